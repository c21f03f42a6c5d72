"""DeleteObjects answers 200 with per-key errors (``delete_objects_error_rate``, 0..1).

S3 answers DeleteObjects with 200 and a ``<DeleteResult>`` that lists, per key, either
``<Deleted>`` or ``<Error>`` (``Key``, ``VersionId``, ``Code``, ``Message``) (S3 API
reference, DeleteObjects); under load some keys fail with ``SlowDown`` / ``InternalError``
while the call succeeds ("Amazon S3 ... 3,500 PUT/COPY/POST/DELETE ... requests per
second per partitioned prefix", S3 user guide, "Best practices design patterns:
optimizing Amazon S3 performance"; each key of a DeleteObjects counts).

Each key fails with probability N (the dice are the fault dice: ``fault_seed`` makes a
run reproducible); a failed key is not deleted; its code is SlowDown or InternalError
(even odds). Keys the bucket policy denies answer ``AccessDenied`` as before, and every
``<Error>`` names the ``VersionId`` it was asked for."""

from __future__ import annotations

from typing import Any

from ..patching import replace

ERRORS = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
}


def install(runner: Any, config: Any) -> None:
    import xmltodict
    from moto.core.responses import ActionResult
    from moto.iam.access_control import PermissionResult
    from moto.s3.exceptions import MalformedXML
    from moto.s3.responses import S3Response

    orig = S3Response._bucket_response_delete_keys

    def roll(n: int) -> list[str | None]:
        rate = config.get("delete_objects_error_rate")
        if rate <= 0:
            return [None] * n
        with config.locked() as (_values, rng):
            return [rng.choice(sorted(ERRORS)) if rng.random() < rate else None
                    for _ in range(n)]

    def delete_keys(self: Any, bucket_name: str, authenticated: bool = True) -> Any:
        if not authenticated or config.get("delete_objects_error_rate") <= 0:
            return orig(self, bucket_name, authenticated)
        body = xmltodict.parse(self.body, strip_whitespace=False)
        bypass = self.headers.get("x-amz-bypass-governance-retention", "").lower() == "true"
        objects = body["Delete"].get("Object", [])
        if not isinstance(objects, list):
            objects = [objects]
        if not objects:
            raise MalformedXML()
        bucket = self.backend.get_bucket(bucket_name)
        errors: list[dict[str, Any]] = []
        to_delete = []
        for obj, failure in zip(objects, roll(len(objects))):
            version = obj.get("VersionId")
            perm = bucket.get_permission("s3:DeleteObject",
                                         f"arn:aws:s3:::{bucket_name}/{obj['Key']}")
            if perm == PermissionResult.DENIED:
                errors.append({"Key": obj["Key"], "VersionId": version,
                               "Code": "AccessDenied", "Message": "Access Denied"})
            elif failure:
                errors.append({"Key": obj["Key"], "VersionId": version, "Code": failure,
                               "Message": ERRORS[failure]})
            else:
                to_delete.append(obj)
        deleted, locked = self.backend.delete_objects(bucket_name, to_delete, bypass) \
            if to_delete else ([], [])
        errors += [{"Key": k, "Code": "AccessDenied",
                    "Message": "Access Denied because object protected by object lock."}
                   for k in locked]
        self.data["Action"] = "DeleteObjects"
        return self.serialized(ActionResult({
            "Deleted": [{"Key": k, "VersionId": v or None, "DeleteMarkerVersionId": dv or None,
                         "DeleteMarker": True if dv else None} for k, v, dv in deleted],
            "Errors": [{k: v for k, v in e.items() if v is not None} for e in errors],
        }))

    replace("moto.s3.responses", "S3Response._bucket_response_delete_keys", delete_keys)
