"""Where moto 5.2.5 differs from AWS in ways tapctl must live with: one module per
behaviour (moto internals are patched, so moto is pinned; each behaviour has a test in
localaws/tests). A module changes moto through ``localaws.patching.replace`` in its
``install(runner, config)``, or is a request hook the middleware asks (``localaws.hooks``),
or both. ``localaws.registry`` lists every module with the moto attributes it replaces
(and why) and every hook, and installs them in a fixed order. docs/local-aws.md maps each
behaviour and knob to its file.

S3        s3_bucket_policy     bucket-policy conditions, aws:SecureTransport (policy_eval);
                               explicit Deny of s3:ListBucket (hook)
          s3_events            asynchronous S3 -> Lambda, record shape, late new entries
          s3_notifications     destination validation (all or nothing), empty document
          s3_ownership         creation tags, tags die with the bucket, other accounts,
                               us-east-1 re-create (200, ACL reset)
          s3_system_tags       aws: tags (control endpoint); PutBucketTagging must resend them
          s3_abac              GetBucketAbac / PutBucketAbac; no Put/DeleteBucketTagging with ABAC
          s3_expected_owner    x-amz-expected-bucket-owner -> 403 AccessDenied (hook)
          s3_versions          ListObjectVersions that scales, S3's markers
          s3_delete_objects    DeleteObjects per-key SlowDown / InternalError
          s3_consistency       OperationAborted overlap, NoSuchBucket after create, held name
                               (hook)
          s3_region            HeadBucket from another region -> 301 (hook)
IAM       iam_propagation      young role cannot be assumed by Lambda (CreateFunction...)
          iam_conflicts        ConcurrentModification, DeleteConflict after detaching (hook)
Lambda    lambda_states        Pending / InProgress / Inactive
          lambda_invoke        invocations run python for real (lambda_runner)
          lambda_destinations  event invoke config, on-failure destination records
          lambda_tags          no lambda:ListTags: GetFunction TagsError, ListTags 403
DynamoDB  dynamodb_states      CREATING / DELETING, DescribeTable lag after create
          dynamodb_tags        eventually consistent, paged, overwritten tags
          dynamodb_billing     4 switches to PAY_PER_REQUEST per 24 h -> LimitExceededException
          dynamodb_index       Query reads only the named partition (index or table), not
                               every item (GET /_localaws/dynamodb/index-stats)
Logs      logs_tags            tags die with their log group
SQS       sqs_deletion         a deleted queue answers a while, its name stays held
All       scp_request_tags     an SCP requiring tags on every create (hook)
(helper)  policy_eval          IAM-style policy evaluation for s3_bucket_policy,
                               s3_notifications and lambda_destinations
"""
