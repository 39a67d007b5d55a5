//! Drift check of a project contract against the official OpenAPI document it was written from.
//!
//! ```text
//! cargo run --example contract_drift -- tests/contract/soe-api-v3.contract.json ../shared/specs/soe-api-v3.openapi.json
//! ```
//!
//! Prints each difference and exits 1 on drift; prints a one-line summary and exits 0 when the
//! contract matches the document for everything it declares; exits 2 when a file is missing or
//! is not JSON, or on bad arguments. What is compared: `tests/support/contract_drift.rs`.

#[path = "../tests/support/contract_drift.rs"]
mod contract_drift;

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

fn read_json(role: &str, path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {role} {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("the {role} {} is not JSON: {e}", path.display()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [contract_path, official_path] = args.as_slice() else {
        eprintln!("usage: contract_drift <contract.json> <official.openapi.json>");
        return ExitCode::from(2);
    };
    let (contract, official) = match (
        read_json("contract", Path::new(contract_path)),
        read_json("official document", Path::new(official_path)),
    ) {
        (Ok(c), Ok(o)) => (c, o),
        (c, o) => {
            for e in [c.err(), o.err()].into_iter().flatten() {
                eprintln!("contract_drift: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let report = contract_drift::drift_report(&contract, &official);
    let twins = if report.team_twins > 0 {
        format!(" (and {} private-team twins)", report.team_twins)
    } else {
        String::new()
    };
    let counts = format!(
        "{} operations{twins}, {} parameters, {} responses, {} schemas, {} properties",
        report.operations, report.parameters, report.responses, report.schemas, report.properties
    );
    if report.differences.is_empty() {
        println!(
            "contract_drift: no drift: {contract_path} matches {official_path} ({counts} compared)"
        );
        ExitCode::SUCCESS
    } else {
        for d in &report.differences {
            println!("DRIFT {d}");
        }
        println!(
            "contract_drift: {} difference(s) between {contract_path} and {official_path} ({counts} compared)",
            report.differences.len()
        );
        ExitCode::from(1)
    }
}
