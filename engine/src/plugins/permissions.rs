//! The QuickBooks permission areas a plugin needs, derived from the request types it declares
//! (research/sources-mapping.md §3.3). Shown to the admin as the checklist for the dedicated
//! QuickBooks user. The table itself lives with the qbXML layer ([`crate::qbxml::permission_area`]),
//! which the simulated QuickBooks and the 3260 advice use too, so all three always agree.

use std::collections::BTreeSet;

pub use crate::qbxml::{PermissionArea, permission_area};

/// The areas a set of request types needs (request types that need no area, such as
/// `HostQuery`, add nothing).
pub fn permission_areas<'a>(
    request_types: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<PermissionArea> {
    request_types
        .into_iter()
        .filter_map(permission_area)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_request_types_give_its_checklist_of_areas() {
        let areas = permission_areas([
            "CustomerAdd",
            "CustomerQuery",
            "InvoiceAdd",
            "BillPaymentCheckAdd",
            "CreditCardChargeAdd",
            "JournalEntryAdd",
            "ItemServiceAdd",
            "HostQuery",
        ]);
        let names: Vec<String> = areas.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Customers & Receivables",
                "Vendors & Payables",
                "Banking",
                "Lists",
                "Accounting"
            ]
        );
    }
}
