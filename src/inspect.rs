//! What `events`, `logs` and `invoke` need besides their AWS calls (which live in
//! `resource::items`, `resource::log_group` and `resource::function`): reading `--since`,
//! writing times as the handler does (ISO 8601 UTC with milliseconds), and the synthetic S3
//! event `invoke` runs the function on. Pure, unit-tested.

use crate::spec::{NOTIFICATION_ID, Stack};
use anyhow::{Result, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `90s`, `10m`, `1h`, `2d` (a bare number is seconds).
pub fn parse_since(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        bail!("--since {text:?}: expected a duration such as 90s, 10m, 1h or 2d");
    };
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--since {text:?}: the unit must be s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`: the shape of S3's `eventTime`, which the
/// table's range key holds, so these strings compare in time order with it.
pub fn iso_utc(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What S3 leaves unencoded in an event's object key besides letters and digits.
const S3_KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/')
    .remove(b' ');

/// An object key as S3 writes it into an event record: URL-encoded, a space as `+`
/// (`a b.txt` arrives as `a+b.txt`).
pub fn event_key(key: &str) -> String {
    utf8_percent_encode(key, S3_KEY_SAFE)
        .to_string()
        .replace(' ', "+")
}

/// The event S3 sends for a PutObject of `key` in the stack's bucket (event structure 2.1,
/// S3 user guide "Event message structure"), at `now_ms`. No size or ETag: no object was
/// uploaded (size 0).
pub fn s3_put_event(s: &Stack, key: &str, now_ms: i64) -> Value {
    let t = &s.target;
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": t.region,
        "eventTime": iso_utc(now_ms),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": format!("AWS:{}", t.account)},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "tapctl-invoke", "x-amz-id-2": "tapctl-invoke"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": NOTIFICATION_ID,
            "bucket": {
                "name": s.bucket_name,
                "ownerIdentity": {"principalId": t.account},
                "arn": s.bucket_arn,
            },
            "object": {
                "key": event_key(key),
                "size": 0,
                "sequencer": format!("{now_ms:016X}"),
            },
        },
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack;

    #[test]
    fn since_reads_units() {
        assert_eq!(parse_since("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_since("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_since("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "h", "1w", "-1h", "1.5h"] {
            let e = parse_since(bad).unwrap_err().to_string();
            assert!(e.starts_with("--since"), "{bad}: {e}");
        }
    }

    #[test]
    fn times_have_s3s_shape() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert!(iso_utc(1_714_564_800_000) < iso_utc(1_714_564_800_001));
    }

    #[test]
    fn keys_are_encoded_as_s3_sends_them() {
        assert_eq!(event_key("a b.txt"), "a+b.txt");
        assert_eq!(event_key("dir/a+b=c.txt"), "dir/a%2Bb%3Dc.txt");
        assert_eq!(event_key("café"), "caf%C3%A9");
    }

    #[test]
    fn the_synthetic_event_names_the_stacks_bucket() {
        let s = test_stack();
        let e = s3_put_event(&s, "x y", 0);
        let r = &e["Records"][0];
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["s3"]["bucket"]["name"], s.bucket_name.as_str());
        assert_eq!(r["s3"]["object"]["key"], "x+y");
        assert_eq!(r["eventTime"], "1970-01-01T00:00:00.000Z");
    }
}
