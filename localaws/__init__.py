"""localaws: a local AWS (S3, DynamoDB, IAM, STS, Lambda, CloudWatch Logs) on moto.

See docs/local-aws.md. Entry points: ``scripts/local-aws`` (start/stop/run),
``python -m localaws.server`` (the server process), ``localaws.requestlog``
(reading the request log in tests).
"""

# Credentials handed out to clients (printed by `start`) and to Lambda function
# processes. The Lambda key id lets the request log (and fault injection) tell
# requests made by functions from those made by clients.
CLIENT_ACCESS_KEY_ID = "AKIALOCALAWSCLIENT01"
CLIENT_SECRET_ACCESS_KEY = "localaws-client-secret-key"
LAMBDA_ACCESS_KEY_ID = "ASIALOCALAWSLAMBDA01"
LAMBDA_SECRET_ACCESS_KEY = "localaws-lambda-secret-key"
LAMBDA_SESSION_TOKEN = "localaws-lambda-session-token"
LAMBDA_KEY_PREFIX = "ASIALOCALAWSLAMBDA"

DEFAULT_REGION = "us-west-2"
ACCOUNT_ID = "123456789012"
