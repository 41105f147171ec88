//! The Ramp corpus (`tests/fixtures/corpus/ramp/`): card splits and refunds, bills with
//! payments and inventory lines, reimbursements, transfers, cashbacks and vendor credits,
//! float artefacts, foreign and whole-unit currencies, missing coding, names that collide when
//! cut to 41 characters — map to their golden qbXML, valid against qbXML 13.0 and 16.0.

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use qbridge_plugin_ramp::map::{REQUEST_TYPES, map};

#[test]
fn every_corpus_record_maps_to_its_golden_qbxml() {
    let records = support::corpus::check_all("ramp", map, REQUEST_TYPES);
    assert!(
        records >= 40,
        "the corpus has {records} records; keep at least 40"
    );
}
