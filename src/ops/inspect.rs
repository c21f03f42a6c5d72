//! What `events`, `logs` and `invoke` need besides their AWS calls (which live in
//! `resource::items`, `resource::log_group` and `resource::function`): reading `--since`,
//! writing times as the handler does (ISO 8601 UTC with milliseconds), and the synthetic S3
//! event `invoke` runs the function on. Pure, unit-tested.

use crate::spec::{NOTIFICATION_ID, Stack};
use anyhow::{Result, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const SINCE_FORMS: &str = "a duration such as 90s, 10m, 1.5h, 2d or 1w, or a UTC time such \
                           as 2026-12-04T10:00:00Z";

/// `--since`: a duration back from `now_ms` (`90s`, `10m`, `1.5h`, `2d`, `1w`; a bare number is
/// seconds) or an ISO 8601 time (`2026-12-04`, `2026-12-04T10:00`, `2026-12-04T10:00:00.123Z`,
/// `...+02:00`), as every document prints `since`, so a printed value can be passed back.
/// The start as milliseconds since the epoch.
pub fn since_ms(text: &str, now_ms: i64) -> Result<i64> {
    let t = text.trim();
    if let Some(ms) = parse_iso(t) {
        return Ok(ms);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = match n.parse() {
        Ok(n) if f64::is_finite(n) && n >= 0.0 => n,
        _ => bail!("--since {text:?}: expected {SINCE_FORMS}"),
    };
    let secs = match unit {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => bail!("--since {text:?}: the unit must be s, m, h, d or w (or give a UTC time)"),
    };
    let ago = (n * secs * 1000.0).round();
    if ago > 1e15 {
        bail!("--since {text:?}: too far back");
    }
    Ok(now_ms - ago as i64)
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` (a space may stand for `T`; no zone is UTC).
fn parse_iso(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let mut rest = &t[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let hm = rest.get(0..5)?;
    let (h, mi) = (
        hm.get(0..2)?.parse::<i64>().ok()?,
        hm.get(3..5)?.parse::<i64>().ok()?,
    );
    if hm.as_bytes()[2] != b':' || h > 23 || mi > 59 {
        return None;
    }
    ms += (h * 3600 + mi * 60) * 1000;
    rest = &rest[5..];
    if let Some(r) = rest.strip_prefix(':') {
        let sec: i64 = r.get(0..2)?.parse().ok()?;
        if sec > 60 {
            return None;
        }
        ms += sec * 1000;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let frac = &r[..digits];
            if frac.is_empty() {
                return None;
            }
            let milli: String = frac.chars().chain("000".chars()).take(3).collect();
            ms += milli.parse::<i64>().ok()?;
            rest = &r[digits..];
        }
    }
    match rest {
        "" | "Z" | "z" => Some(ms),
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = &zone[1..];
            let (zh, zm) = match z.len() {
                5 if z.as_bytes()[2] == b':' => {
                    (z[0..2].parse::<i64>().ok()?, z[3..5].parse::<i64>().ok()?)
                }
                4 => (z[0..2].parse::<i64>().ok()?, z[2..4].parse::<i64>().ok()?),
                2 => (z.parse::<i64>().ok()?, 0),
                _ => return None,
            };
            Some(ms - sign * (zh * 3600 + zm * 60) * 1000)
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

/// What marks a synthetic event: S3's request id in `responseElements` (`x-amz-request-id`,
/// 16 hexadecimal characters from S3) reads `tapctl-ORIGIN` (`invoke`, `backfill`). The handler
/// writes ORIGIN into the item's `synthetic` attribute; the event's shape stays S3's.
pub const SYNTHETIC_PREFIX: &str = "tapctl-";

/// The object an event is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: i64,
    /// Without the quotes ListObjectsV2 puts around it (S3's events carry it bare).
    pub etag: Option<String>,
    /// The event's time, epoch milliseconds.
    pub time_ms: i64,
}

/// The event S3 sends for a PutObject of `o` in the stack's bucket (event structure 2.1, S3
/// user guide "Event message structure"), marked as made by tapctl for `origin`. The same
/// object gives the same event: the handler's requestId (a hash of the record's identity)
/// is the same, so a second run is a duplicate, not a second item.
pub fn s3_object_event(s: &Stack, o: &Object, origin: &str) -> Value {
    let t = &s.target;
    let marker = format!("{SYNTHETIC_PREFIX}{origin}");
    let mut object = json!({
        "key": event_key(&o.key),
        "size": o.size,
        "sequencer": format!("{:016X}", o.time_ms),
    });
    if let Some(e) = &o.etag {
        object["eTag"] = json!(e.trim_matches('"'));
    }
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": t.region,
        "eventTime": iso_utc(o.time_ms),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": format!("AWS:{}", t.account)},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": marker, "x-amz-id-2": marker},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": NOTIFICATION_ID,
            "bucket": {
                "name": s.bucket_name,
                "ownerIdentity": {"principalId": t.account},
                "arn": s.bucket_arn,
            },
            "object": object,
        },
    }]})
}

/// The event `invoke --key` sends at `now_ms`: size 0 unless the object is known (no upload).
pub fn s3_put_event(s: &Stack, key: &str, now_ms: i64) -> Value {
    let o = Object {
        key: key.to_string(),
        size: 0,
        etag: None,
        time_ms: now_ms,
    };
    s3_object_event(s, &o, "invoke")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack;

    #[test]
    fn since_reads_durations_and_times_and_takes_back_what_it_prints() {
        let now = 1_764_806_400_000; // 2025-12-04T00:00:00Z
        let ago = |t: &str| now - since_ms(t, now).unwrap();
        assert_eq!(ago("90"), 90_000);
        assert_eq!(ago("10m"), 600_000);
        assert_eq!(ago("1h"), 3_600_000);
        assert_eq!(ago("1.5h"), 5_400_000);
        assert_eq!(ago("2d"), 172_800_000);
        assert_eq!(ago("1w"), 604_800_000);
        assert_eq!(ago("0.5s"), 500);
        assert_eq!(
            since_ms("2024-05-01T12:00:00.123Z", now).unwrap(),
            1_714_564_800_123
        );
        assert_eq!(
            since_ms("2024-05-01T12:00:00Z", now).unwrap(),
            1_714_564_800_000
        );
        assert_eq!(
            since_ms("2024-05-01T12:00", now).unwrap(),
            1_714_564_800_000
        );
        assert_eq!(
            since_ms("2024-05-01 14:00:00+02:00", now).unwrap(),
            1_714_564_800_000
        );
        assert_eq!(
            since_ms("2024-05-01T07:30:00-0430", now).unwrap(),
            1_714_564_800_000
        );
        assert_eq!(since_ms("2024-05-01", now).unwrap(), 1_714_521_600_000);
        // What the documents print as `since` reads back as the same time.
        for ms in [0, 951_782_400_000, 1_714_564_800_123] {
            assert_eq!(since_ms(&iso_utc(ms), now).unwrap(), ms);
        }
        for bad in [
            "",
            "h",
            "1y",
            "-1h",
            "2024-13-01",
            "2024-05-01T25:00",
            "1.2.3h",
            "nan",
        ] {
            let e = since_ms(bad, now).unwrap_err().to_string();
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
        assert_eq!(r["responseElements"]["x-amz-request-id"], "tapctl-invoke");
    }

    #[test]
    fn a_backfill_event_is_the_objects_and_the_same_every_time() {
        let s = test_stack();
        let o = Object {
            key: "in/a b.txt".into(),
            size: 12,
            etag: Some("\"0cc175b9c0f1b6a831c399e269772661\"".into()),
            time_ms: 1_714_564_800_123,
        };
        let e = s3_object_event(&s, &o, "backfill");
        assert_eq!(e, s3_object_event(&s, &o, "backfill"));
        let r = &e["Records"][0];
        assert_eq!(r["eventTime"], "2024-05-01T12:00:00.123Z");
        assert_eq!(r["s3"]["object"]["key"], "in/a+b.txt");
        assert_eq!(r["s3"]["object"]["size"], 12);
        assert_eq!(
            r["s3"]["object"]["eTag"],
            "0cc175b9c0f1b6a831c399e269772661"
        );
        assert_eq!(r["s3"]["object"]["sequencer"], "0000018F34069E7B");
        assert_eq!(r["responseElements"]["x-amz-request-id"], "tapctl-backfill");
        assert_eq!(r["s3"]["bucket"]["arn"], s.bucket_arn.as_str());
    }
}
