"""System (``aws:``) tags on buckets, as CloudFormation / CDK leave them
(``aws:cloudformation:stack-name``, ``aws:cloudformation:stack-id``,
``aws:cloudformation:logical-id``).

A bucket gets such tags only from AWS itself: here from the control endpoint
``POST /_localaws/s3/system-tags`` (``set_system_tags``), standing in for CloudFormation.
They live in moto's tagger with the bucket's other tags, so GetBucketTagging (and
anything else reading the tagger) returns them, and they die with the bucket
(``s3_ownership``).

PutBucketTagging replaces the whole tag set, and since 2018 S3 requires the extant
``aws:`` tags to be sent back unchanged (cloud-custodian #2834 and PR #2861, "previously
it would not accept aws: prefixed tags, it now requires them if extant";
terraform-provider-aws #7323 and PR #7342, which resends them). A tag set that

- adds an ``aws:`` key the bucket does not have: 400 ``InvalidTag`` "Your TagKey cannot
  be prefixed with aws:" (cloud-custodian #370; moto 5.2.5 refused every ``aws:`` key,
  extant or not, with the next message);
- changes the value of an extant one: 400 ``InvalidTag`` "System tags cannot be
  added/updated by requester" (moto's NoSystemTags, getmoto/moto PR #2855);
- leaves an extant one out: 400 ``InvalidTag`` "System Tags cannot be removed by
  requester" (cloud-custodian #2834, terraform-provider-aws #7323);

is refused and changes nothing; one that resends them unchanged is applied.
DeleteBucketTagging on a bucket with ``aws:`` tags would remove them: refused the same
way ("System Tags cannot be removed by requester"). No public trace of that exact
answer was found: it follows from the tagging rule "you can't edit or delete tag keys or
values that use this prefix" (AWS tagging documentation, e.g. Tagging best practices,
"Tag naming limits and requirements") and from terraform-provider-aws's
``bucketUpdateTags``, which never calls DeleteBucketTagging while system tags remain (it
PutBucketTaggings them alone instead).

Only requests that come through a listener are checked (the control endpoint and
moto-internal calls write the tagger directly).
"""

from __future__ import annotations

from typing import Any

from .. import context
from ..patching import replace

SYSTEM_PREFIX = "aws:"
MSG_NEW = "Your TagKey cannot be prefixed with aws:"
MSG_UPDATE = "System tags cannot be added/updated by requester"
MSG_REMOVE = "System Tags cannot be removed by requester"


def _system(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(SYSTEM_PREFIX)}


def _bucket_tags(backend: Any, bucket: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"]
            for t in backend.tagger.list_tags_for_resource(bucket.arn)["Tags"]}


def check_put(existing: dict[str, str], wanted: dict[str, str]) -> str | None:
    """The InvalidTag message S3 answers to replacing ``existing`` by ``wanted``, or None."""
    have, want = _system(existing), _system(wanted)
    if any(k not in have for k in want):
        return MSG_NEW
    if any(have[k] != v for k, v in want.items()):
        return MSG_UPDATE
    if any(k not in want for k in have):
        return MSG_REMOVE
    return None


def _find_bucket(name: str, account: str | None = None) -> tuple[Any, Any]:
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    if not owner:
        raise LookupError(f"no such bucket: {name}")
    partition, acct = owner
    if account and account != acct:
        raise LookupError(f"bucket {name} belongs to account {acct}, not {account}")
    backend = s3_backends[acct][partition]
    bucket = backend.buckets.get(name)
    if bucket is None:
        raise LookupError(f"no such bucket: {name}")
    return backend, bucket


def set_system_tags(spec: Any) -> dict[str, Any]:
    """Control endpoint: ``{"bucket": B, "tags": {"aws:...": V, ...}}`` makes these the
    bucket's system tags, as CloudFormation would (the bucket's other tags stay; system
    tags not named are removed, so ``{}`` removes them all). Answers the bucket's whole
    tag set."""
    if not isinstance(spec, dict) or not isinstance(spec.get("bucket"), str):
        raise ValueError('needs {"bucket": NAME, "tags": {"aws:KEY": VALUE, ...}}')
    tags = spec.get("tags", {})
    if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValueError('"tags" must be an object of strings')
    bad = [k for k in tags if not k.startswith(SYSTEM_PREFIX)]
    if bad:
        raise ValueError(f"system tag keys start with {SYSTEM_PREFIX!r}: {bad}")
    backend, bucket = _find_bucket(spec["bucket"], spec.get("account"))
    current = _bucket_tags(backend, bucket)
    merged = {k: v for k, v in current.items() if not k.startswith(SYSTEM_PREFIX)}
    merged.update(tags)
    backend.tagger.delete_all_tags_for_resource(bucket.arn)
    if merged:
        backend.tagger.tag_resource(bucket.arn,
                                    [{"Key": k, "Value": v} for k, v in merged.items()])
    return {"bucket": bucket.name, "tags": _bucket_tags(backend, bucket)}


def install(runner: Any, config: Any) -> None:
    import xmltodict
    from moto.s3.exceptions import DuplicateTagKeys, InvalidTagError
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    orig_put = S3Backend.put_bucket_tagging
    orig_delete = S3Backend.delete_bucket_tagging

    def _bucket_tagging_from_body(self: Any) -> dict[str, str]:
        # moto's parser, without its blanket refusal of aws: keys (decided below)
        parsed = xmltodict.parse(self.body)
        tags: dict[str, str] = {}
        tag_set = (parsed.get("Tagging") or {}).get("TagSet") or {}
        items = tag_set.get("Tag") or []
        if not isinstance(items, list):
            items = [items]
        for tag in items:
            key, value = tag["Key"], tag.get("Value") or ""
            if key in tags:
                raise DuplicateTagKeys()
            tags[key] = value
        return tags

    def put_bucket_tagging(self: Any, bucket_name: str, tags: dict[str, str]) -> None:
        if context.listener() is not None:
            bucket = self.get_bucket(bucket_name)
            msg = check_put(_bucket_tags(self, bucket), tags)
            if msg:
                raise InvalidTagError(msg)
        return orig_put(self, bucket_name, tags)

    def delete_bucket_tagging(self: Any, bucket_name: str) -> None:
        if context.listener() is not None:
            bucket = self.get_bucket(bucket_name)
            if _system(_bucket_tags(self, bucket)):
                raise InvalidTagError(MSG_REMOVE)
        return orig_delete(self, bucket_name)

    replace("moto.s3.responses", "S3Response._bucket_tagging_from_body",
            _bucket_tagging_from_body)
    replace("moto.s3.models", "S3Backend.put_bucket_tagging", put_bucket_tagging)
    replace("moto.s3.models", "S3Backend.delete_bucket_tagging", delete_bucket_tagging)
