import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import HANDLER_DIR, TABLE, context, items, s3_record


def three_records():
    return {"Records": [s3_record("a.txt", "0001"), s3_record("dir/b.txt", "0002", version_id="v2"),
                        s3_record("c+d.txt", "0003", size=0)]}


def log_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_three_records_give_three_items(index, table):
    assert index.lambda_handler(three_records(), context()) == {
        "processed": 3, "duplicates": 0, "skipped": 0}
    got = {i["objectKey"]["S"]: i for i in items(table)}
    assert sorted(got) == ["a.txt", "c d.txt", "dir/b.txt"]
    b = got["dir/b.txt"]
    assert b["bucketName"] == {"S": "lambda-trigger-bucket-test"}
    assert b["eventName"] == {"S": "ObjectCreated:Put"}
    assert b["eventTime"] == b["timestamp"] == {"S": "2024-05-01T12:00:00.000Z"}
    assert b["objectSize"] == {"N": "1024"}
    assert b["eTag"] == {"S": "d41d8cd98f00b204e9800998ecf8427e"}
    assert b["versionId"] == {"S": "v2"}
    assert b["sequencer"] == {"S": "0002"}
    assert b["functionName"] == {"S": "s3-processor-test"}
    assert b["awsRequestId"] == {"S": "req-1111"}
    assert b["loggedAt"]["S"].endswith("+00:00")
    assert b["requestId"]["S"].startswith("s3:")
    assert "versionId" not in got["a.txt"]
    assert got["c d.txt"]["objectSize"] == {"N": "0"}
    assert len({i["requestId"]["S"] for i in got.values()}) == 3


@pytest.mark.parametrize("encoded, decoded", [
    ("a+b%2Bc.txt", "a b+c.txt"),
    ("my+file.txt", "my file.txt"),
    ("100%25+done.txt", "100% done.txt"),
    ("caf%C3%A9/%E6%97%A5%E6%9C%AC.txt", "café/日本.txt"),
    ("deep/nested/path/x.json", "deep/nested/path/x.json"),
    ("a%2Fb/c%3Fd%3De%26f.txt", "a/b/c?d=e&f.txt"),
])
def test_object_keys_are_url_decoded(index, table, encoded, decoded):
    index.lambda_handler({"Records": [s3_record(encoded)]}, context())
    assert [i["objectKey"]["S"] for i in items(table)] == [decoded]


def test_same_event_twice_is_not_duplicated(index, table):
    index.lambda_handler(three_records(), context("req-first"))
    again = index.lambda_handler(three_records(), context("req-retry"))
    assert again == {"processed": 0, "duplicates": 3, "skipped": 0}
    got = items(table)
    assert len(got) == 3
    assert {i["awsRequestId"]["S"] for i in got} == {"req-first"}


def test_new_events_for_same_object_are_new_items(index, table):
    index.lambda_handler({"Records": [s3_record("a.txt", "0001")]}, context())
    index.lambda_handler({"Records": [s3_record("a.txt", "0002")]}, context())
    assert len(items(table)) == 2


def test_events_without_sequencer_are_told_apart_by_time(index, table):
    first, second = s3_record("a.txt"), s3_record("a.txt", event_time="2024-05-01T12:00:01.000Z")
    for record in (first, second):
        del record["s3"]["object"]["sequencer"]
    index.lambda_handler({"Records": [first, second]}, context())
    assert len({i["requestId"]["S"] for i in items(table)}) == 2
    assert index.lambda_handler({"Records": [first, second]}, context())["duplicates"] == 2


def test_missing_table_raises(index, table, monkeypatch):
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "no-such-table")
    with pytest.raises(ClientError) as err:
        index.lambda_handler(three_records(), context())
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


class ThrottledClient:
    def put_item(self, **_kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                          "PutItem")


class FakeClock:
    """The invocation's clock: sleeping advances it; remaining time counts down from a deadline."""

    def __init__(self, remaining_ms):
        self.now_ms = 0
        self.deadline_ms = remaining_ms
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now_ms += seconds * 1000

    def remaining(self):
        return self.deadline_ms - self.now_ms


def lambda_context(clock, request_id="req-1111"):
    ctx = context(request_id)
    ctx.get_remaining_time_in_millis = clock.remaining
    return ctx


@pytest.fixture
def clock(index, monkeypatch):
    fake = FakeClock(30_000)
    monkeypatch.setattr(index.time, "sleep", fake.sleep)
    return fake


def test_throttled_write_raises_and_is_logged(index, monkeypatch, capsys, clock):
    monkeypatch.setattr(index, "_dynamodb", ThrottledClient())
    with pytest.raises(ClientError):
        index.lambda_handler(three_records(), context("req-throttled"))
    *retries, line = log_lines(capsys)
    assert line["outcome"] == "error" and line["errorCode"] == "ThrottlingException"
    assert line["awsRequestId"] == "req-throttled"
    # Without a Lambda deadline: a fixed number of attempts, each failure logged with its reason.
    assert line["attempts"] == index._MAX_ATTEMPTS_WITHOUT_DEADLINE
    assert [r["attempt"] for r in retries] == list(range(1, index._MAX_ATTEMPTS_WITHOUT_DEADLINE))
    assert all(r["outcome"] == "retry" and r["errorCode"] == "ThrottlingException"
               and r["level"] == "WARNING" and "Rate exceeded" in r["error"] for r in retries)


def test_retries_stop_in_time_for_the_error_to_be_logged(index, monkeypatch, capsys, clock):
    # Throttled for longer than the invocation lasts: the handler gives up while one attempt's
    # worth of time is still left, so its error line is written before Lambda's timeout.
    monkeypatch.setattr(index, "_dynamodb", ThrottledClient())
    with pytest.raises(ClientError):
        index.lambda_handler(three_records(), lambda_context(clock, "req-deadline"))
    *retries, line = log_lines(capsys)
    assert line["outcome"] == "error" and line["attempts"] == len(retries) + 1 > 3
    assert clock.remaining() >= index._ATTEMPT_BUDGET_MS
    assert clock.remaining() < 30_000


def test_short_throttling_is_retried_within_the_invocation(index, table, monkeypatch, capsys, clock):
    real = index._client()

    class ThrottledTwice:
        calls = 0

        def put_item(self, **kwargs):
            ThrottledTwice.calls += 1
            if ThrottledTwice.calls <= 2:
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                             "Message": "slow down"}}, "PutItem")
            return real.put_item(**kwargs)

    monkeypatch.setattr(index, "_dynamodb", ThrottledTwice())
    assert index.lambda_handler(three_records(), lambda_context(clock)) == {
        "processed": 3, "duplicates": 0, "skipped": 0}
    assert len(items(table)) == 3
    lines = log_lines(capsys)
    assert [line["attempt"] for line in lines if line.get("outcome") == "retry"] == [1, 2]
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("error, retried", [
    (ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "PutItem"), False),
    (ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutItem"), False),
    (ClientError({"Error": {"Code": "Whatever", "Message": "oops"},
                  "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutItem"), True),
])
def test_only_retryable_errors_are_retried(index, monkeypatch, capsys, clock, error, retried):
    class Failing:
        calls = 0

        def put_item(self, **_kwargs):
            Failing.calls += 1
            raise error

    monkeypatch.setattr(index, "_dynamodb", Failing())
    with pytest.raises(ClientError):
        index.lambda_handler({"Records": [s3_record("a.txt")]}, lambda_context(clock))
    assert (Failing.calls > 1) == retried
    assert log_lines(capsys)[-1]["outcome"] == "error"


def test_connection_errors_are_retried(index, table, monkeypatch, clock):
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
    real = index._client()
    errors = [EndpointConnectionError(endpoint_url="https://dynamodb"),
              ReadTimeoutError(endpoint_url="https://dynamodb")]

    class Flaky:
        def put_item(self, **kwargs):
            if errors:
                raise errors.pop(0)
            return real.put_item(**kwargs)

    monkeypatch.setattr(index, "_dynamodb", Flaky())
    assert index.lambda_handler({"Records": [s3_record("a.txt")]}, lambda_context(clock))[
        "processed"] == 1


def test_client_attempts_are_bounded_by_timeouts(index):
    config = index._client().meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.connect_timeout + config.read_timeout < index._ATTEMPT_BUDGET_MS / 1000


def test_retry_after_partial_failure_completes_without_duplicates(index, table, monkeypatch, clock):
    real = index._client()

    class FailsOnce:
        calls = 0

        def put_item(self, **kwargs):
            FailsOnce.calls += 1
            if FailsOnce.calls == 2:
                raise ClientError({"Error": {"Code": "ValidationException", "Message": "x"}}, "PutItem")
            return real.put_item(**kwargs)

    monkeypatch.setattr(index, "_dynamodb", FailsOnce())
    with pytest.raises(ClientError):
        index.lambda_handler(three_records(), context())
    assert len(items(table)) == 1
    assert index.lambda_handler(three_records(), context()) == {
        "processed": 2, "duplicates": 1, "skipped": 0}
    assert len(items(table)) == 3


def test_missing_table_variable_is_a_clear_error(index, monkeypatch):
    monkeypatch.delenv("DYNAMODB_TABLE_NAME")
    with pytest.raises(index.ConfigurationError, match="DYNAMODB_TABLE_NAME is not set"):
        index.lambda_handler(three_records(), context())


@pytest.mark.parametrize("event", [
    {}, {"Records": "nope"}, {"source": "aws.events", "detail": {}},
    {"Service": "Amazon S3", "Event": "s3:TestEvent"}, [],
])
def test_non_s3_event_is_skipped(index, table, event, capsys):
    assert index.lambda_handler(event, context("req-x")) == {
        "processed": 0, "duplicates": 0, "skipped": 1}
    assert items(table) == []
    assert log_lines(capsys)[0]["outcome"] == "skipped"


def test_non_s3_records_are_skipped_others_processed(index, table, capsys):
    sns = {"EventSource": "aws:sns", "Sns": {"Message": "{}"}}
    no_key = s3_record("x")
    del no_key["s3"]["object"]["key"]
    event = {"Records": [sns, s3_record("ok.txt"), no_key, "garbage"]}
    assert index.lambda_handler(event, context("req-mixed")) == {
        "processed": 1, "duplicates": 0, "skipped": 3}
    assert [i["objectKey"]["S"] for i in items(table)] == ["ok.txt"]
    outcomes = [line.get("outcome") for line in log_lines(capsys)]
    assert outcomes[:4] == ["skipped", "processed", "skipped", "skipped"]


def test_log_line_per_record_has_request_id_not_contents(index, table, capsys):
    index.lambda_handler(three_records(), context("req-log-42"))
    lines = log_lines(capsys)
    per_record = [line for line in lines if "recordIndex" in line]
    assert len(per_record) == 3
    for line in per_record:
        assert line["awsRequestId"] == "req-log-42"
        assert line["requestId"].startswith("s3:")
        assert line["outcome"] == "processed" and line["level"] == "INFO"
        assert not {"body", "content", "contents", "Body"} & set(line)
    assert lines[-1]["processed"] == 3


def test_log_level_from_env(index, table, monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    index.lambda_handler(three_records(), context())
    assert log_lines(capsys) == []


def test_client_is_created_once_per_container(index, table):
    index.lambda_handler(three_records(), context())
    first = index._dynamodb
    index.lambda_handler({"Records": [s3_record("z.txt", "0009")]}, context())
    assert first is not None and index._dynamodb is first


def test_import_without_env_does_not_fail():
    env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_TABLE_NAME"}
    done = subprocess.run([sys.executable, "-c", "import index"], cwd=HANDLER_DIR, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_items_expire_only_when_retention_is_set(index, table, monkeypatch):
    index.lambda_handler({"Records": [s3_record("keep.txt")]}, context())
    assert "expiresAt" not in items(table)[0]
    monkeypatch.setenv("ITEM_RETENTION_DAYS", "7")
    before = int(index.time.time())
    index.lambda_handler({"Records": [s3_record("expire.txt")]}, context())
    got = {i["objectKey"]["S"]: i for i in items(table)}
    expires = int(got["expire.txt"]["expiresAt"]["N"])
    assert before + 7 * 86400 <= expires <= int(index.time.time()) + 7 * 86400
    assert "expiresAt" not in got["keep.txt"]
    monkeypatch.setenv("ITEM_RETENTION_DAYS", "0")
    index.lambda_handler({"Records": [s3_record("zero.txt")]}, context())
    assert "expiresAt" not in {i["objectKey"]["S"]: i for i in items(table)}["zero.txt"]


@pytest.mark.parametrize("bad", ["soon", "-1", "1.5"])
def test_bad_retention_is_a_configuration_error(index, table, monkeypatch, bad):
    monkeypatch.setenv("ITEM_RETENTION_DAYS", bad)
    with pytest.raises(index.ConfigurationError, match="ITEM_RETENTION_DAYS"):
        index.lambda_handler({"Records": [s3_record("a.txt")]}, context())
    assert items(table) == []


def test_items_of_synthetic_events_are_marked(index, table):
    made = s3_record("made.txt", "0001")
    made["responseElements"] = {"x-amz-request-id": "tapctl-backfill", "x-amz-id-2": "tapctl-backfill"}
    real = s3_record("real.txt", "0002")
    real["responseElements"] = {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"}
    assert index.lambda_handler({"Records": [made, real]}, context())["processed"] == 2
    got = {i["objectKey"]["S"]: i for i in items(table)}
    assert got["made.txt"]["synthetic"] == {"S": "backfill"}
    assert "synthetic" not in got["real.txt"]
    # The marker is no part of the record's identity: the same event unmarked is a duplicate.
    del made["responseElements"]
    assert index.lambda_handler({"Records": [made]}, context())["duplicates"] == 1
