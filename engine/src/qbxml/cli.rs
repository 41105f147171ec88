//! `qbridge validate FILE [--version 13.0|16.0]`: check a qbXML file against Intuit's XSD.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use qbridge_sdk::schema::{QbxmlVersion, validate};

/// Largest file `validate` reads; qbXML requests are far smaller.
const MAX_FILE: u64 = 256 << 20;

/// Arguments of `qbridge validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The qbXML file to check.
    file: PathBuf,
    /// Schema version (13.0 or 16.0). Default: the file's `<?qbxml version?>`, else 13.0.
    #[arg(long)]
    version: Option<QbxmlVersion>,
}

/// Runs `qbridge validate`: prints `valid (qbXML X.Y)`, or each error with its line and
/// exits 1.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_FILE,
        "{} is {size} bytes; validate reads files up to {MAX_FILE} bytes",
        args.file.display()
    );
    let xml = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {} as UTF-8 text", args.file.display()))?;
    let version = args.version.unwrap_or_else(|| declared_version(&xml));
    match validate(version, &xml) {
        Ok(()) => {
            println!("valid (qbXML {version})");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.errors {
                match e.line {
                    Some(line) => println!("{}:{line}: {}", args.file.display(), e.message),
                    None => println!("{}: {}", args.file.display(), e.message),
                }
            }
            eprintln!(
                "error: {} is not valid qbXML {version} ({} problem(s) above)",
                args.file.display(),
                errors.errors.len()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The version in the document's `<?qbxml version="X.Y"?>`, if it has one.
pub(crate) fn declared_number(xml: &str) -> Option<(u32, u32)> {
    let head = &xml[..xml.floor_char_boundary(4096)];
    let pi = &head[head.find("<?qbxml")?..];
    let pi = &pi[..pi.find("?>")?];
    let v = pi.split("version=").nth(1)?;
    let v = v.trim_start_matches(['"', '\'']);
    let v = &v[..v.find(['"', '\''])?];
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
}

/// The schema matching the document's `<?qbxml version="X.Y"?>`, or 13.0 when it has none
/// or names a version older than every shipped schema.
pub(crate) fn declared_version(xml: &str) -> QbxmlVersion {
    declared_number(xml)
        .and_then(|(major, minor)| QbxmlVersion::highest_supported(major, minor))
        .unwrap_or(QbxmlVersion::V13_0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_version_reads_the_processing_instruction() {
        assert_eq!(
            declared_version(r#"<?xml version="1.0"?><?qbxml version="16.0"?><QBXML/>"#),
            QbxmlVersion::V16_0
        );
        assert_eq!(
            declared_version(r#"<?qbxml version="14.0"?><QBXML/>"#),
            QbxmlVersion::V13_0
        );
        assert_eq!(
            declared_version(r#"<?qbxml version="5.0"?><QBXML/>"#),
            QbxmlVersion::V13_0
        );
        assert_eq!(declared_version("<QBXML/>"), QbxmlVersion::V13_0);
    }
}
