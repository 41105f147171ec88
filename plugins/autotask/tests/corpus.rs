//! The Autotask corpus (`tests/fixtures/corpus/autotask/`): realistic records — tax on the
//! lines or the header, tax-exempt and foreign-currency customers, parent/child companies,
//! float artefacts, names that collide when cut to 41 characters, records that must be refused
//! — map to their golden qbXML, valid against qbXML 13.0 and 16.0.

mod support;

use qbridge_plugin_autotask::map::{REQUEST_TYPES, map};

#[test]
fn every_corpus_record_maps_to_its_golden_qbxml() {
    let records = support::corpus::check_all("autotask", map, REQUEST_TYPES);
    assert!(
        records >= 40,
        "the corpus has {records} records; keep at least 40"
    );
}
