//! `lakezip cleanup s3://bucket/prefix/ [--dry-run] [--older-than AGE]`: list the
//! multipart uploads left open under a prefix (by packs that were interrupted or whose
//! abort could not reach the store) and abort them, so their parts stop costing storage.
//! The local resume state of every aborted upload is removed too.

use std::process::ExitCode;

use anyhow::{Result, bail};
use range_reader::retry::RetryPolicy;
use range_reader::upload;

use crate::cli::CleanupArgs;
use crate::dest::{client, default_state_dir, saved_uploads};
use crate::output::Output;
use crate::source::Context;

pub fn run(args: CleanupArgs, context: &Context) -> Result<ExitCode> {
    let mut out = Output::new(args.json);
    let Some((bucket, prefix)) = range_reader::s3::parse_s3_url(&args.prefix).or_else(|| {
        args.prefix
            .strip_prefix("s3://")
            .filter(|b| !b.is_empty() && !b.contains('/'))
            .map(|b| (b.to_owned(), String::new()))
    }) else {
        bail!(
            "{} is not an S3 prefix; expected s3://bucket/prefix/",
            args.prefix
        );
    };
    let older_than = match &args.older_than {
        Some(age) => parse_age(age)?,
        None => 0,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let client = client(context)?;
    let policy = RetryPolicy::from_env();
    let uploads = upload::list_uploads(&client, &bucket, &prefix, &policy)?;
    let state_dir = match &args.state_dir {
        Some(dir) => Some(dir.clone()),
        None => default_state_dir().ok(),
    };
    let saved = state_dir.as_deref().map(saved_uploads).unwrap_or_default();
    let (mut aborted, mut kept) = (0u64, 0u64);
    for pending in uploads {
        let age = pending.initiated.map(|t| now - t);
        if age.is_some_and(|a| a < older_than) {
            kept += 1;
            continue;
        }
        if !args.dry_run {
            upload::abort_upload(&client, &bucket, &pending.key, &pending.upload_id, &policy)?;
            for (path, state) in &saved {
                if state.upload_id == pending.upload_id {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        aborted += 1;
        let url = format!("s3://{bucket}/{}", pending.key);
        out.emit(
            serde_json::json!({
                "type": "upload",
                "url": url,
                "upload_id": pending.upload_id,
                "initiated": pending.initiated,
                "aborted": !args.dry_run,
            }),
            || {
                let verb = if args.dry_run {
                    "would abort"
                } else {
                    "aborted"
                };
                format!("{verb} upload {} of {url}", pending.upload_id)
            },
        )?;
    }
    out.emit(
        serde_json::json!({
            "type": "summary",
            "prefix": format!("s3://{bucket}/{prefix}"),
            "aborted": if args.dry_run { 0 } else { aborted },
            "would_abort": if args.dry_run { aborted } else { 0 },
            "kept_younger": kept,
        }),
        || {
            let verb = if args.dry_run {
                "would abort"
            } else {
                "aborted"
            };
            format!(
                "{verb} {aborted} multipart uploads under s3://{bucket}/{prefix}{}",
                if kept > 0 {
                    format!(" ({kept} younger ones kept)")
                } else {
                    String::new()
                }
            )
        },
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `30m`, `12h`, `7d` (or plain seconds) as seconds.
fn parse_age(text: &str) -> Result<i64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let Ok(n) = number.parse::<i64>() else {
        bail!("--older-than {text:?}: expected a number with s, m, h or d, such as 24h");
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => bail!("--older-than {text:?}: the unit must be s, m, h or d"),
    };
    n.checked_mul(scale)
        .filter(|s| *s >= 0)
        .ok_or_else(|| anyhow::anyhow!("--older-than {text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages() {
        assert_eq!(parse_age("90").ok(), Some(90));
        assert_eq!(parse_age("30m").ok(), Some(1800));
        assert_eq!(parse_age("12h").ok(), Some(43_200));
        assert_eq!(parse_age("7d").ok(), Some(604_800));
        assert!(parse_age("7w").is_err());
        assert!(parse_age("-1h").is_err());
        assert!(parse_age("h").is_err());
    }
}
