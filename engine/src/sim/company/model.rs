//! The company file's records and the value conventions QuickBooks uses for them: ids
//! like `80000001-1700000000`, EditSequences that change on every modification, ISO
//! timestamps, and amounts with two decimals.

use std::collections::BTreeMap;

use qbridge_sdk::amount::Amount;
use serde::{Deserialize, Serialize};

/// A list (name or item) type the simulator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ListKind {
    /// Customers and their jobs (`Parent:Child`).
    Customer,
    /// Vendors.
    Vendor,
    /// Employees.
    Employee,
    /// Other names.
    OtherName,
    /// Chart of accounts.
    Account,
    /// Classes.
    Class,
    /// Service items.
    ItemService,
    /// Non-inventory items.
    ItemNonInventory,
    /// Other-charge items.
    ItemOtherCharge,
}

/// Names that must be unique together: QuickBooks shares one name space between customers,
/// vendors, employees and other names, and another between all item types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameSpace {
    Names,
    Items,
    Accounts,
    Classes,
}

impl ListKind {
    pub(crate) const ALL: [ListKind; 9] = [
        ListKind::Customer,
        ListKind::Vendor,
        ListKind::Employee,
        ListKind::OtherName,
        ListKind::Account,
        ListKind::Class,
        ListKind::ItemService,
        ListKind::ItemNonInventory,
        ListKind::ItemOtherCharge,
    ];

    /// The qbXML object name, e.g. `ItemService`.
    pub fn tag(self) -> &'static str {
        match self {
            ListKind::Customer => "Customer",
            ListKind::Vendor => "Vendor",
            ListKind::Employee => "Employee",
            ListKind::OtherName => "OtherName",
            ListKind::Account => "Account",
            ListKind::Class => "Class",
            ListKind::ItemService => "ItemService",
            ListKind::ItemNonInventory => "ItemNonInventory",
            ListKind::ItemOtherCharge => "ItemOtherCharge",
        }
    }

    pub(crate) fn from_tag(tag: &str) -> Option<ListKind> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    pub(crate) fn namespace(self) -> NameSpace {
        match self {
            ListKind::Customer | ListKind::Vendor | ListKind::Employee | ListKind::OtherName => {
                NameSpace::Names
            }
            ListKind::Account => NameSpace::Accounts,
            ListKind::Class => NameSpace::Classes,
            _ => NameSpace::Items,
        }
    }

    /// Longest Name QuickBooks accepts (sources-mapping.md §3.1).
    pub(crate) fn max_name(self) -> usize {
        match self.namespace() {
            NameSpace::Names => 41,
            _ => 31,
        }
    }

    /// Whether records nest (`Parent:Child`) and their Ret carries FullName and Sublevel.
    pub(crate) fn hierarchical(self) -> bool {
        !matches!(
            self,
            ListKind::Vendor | ListKind::Employee | ListKind::OtherName
        )
    }

    /// Plain text fields the simulator keeps, in the Ret's schema order, with their
    /// QuickBooks length limits.
    pub(crate) fn fields(self) -> &'static [(&'static str, usize)] {
        match self {
            ListKind::Customer | ListKind::Vendor | ListKind::OtherName => &[
                ("CompanyName", 41),
                ("FirstName", 25),
                ("LastName", 25),
                ("Phone", 21),
                ("Email", 1023),
            ],
            ListKind::Employee => &[
                ("FirstName", 25),
                ("LastName", 25),
                ("Phone", 21),
                ("Email", 1023),
            ],
            ListKind::Account => &[("AccountNumber", 7), ("Desc", 200)],
            _ => &[],
        }
    }
}

/// A transaction type the simulator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnKind {
    /// Invoices.
    Invoice,
    /// Bills.
    Bill,
    /// Bill payments by check.
    BillPaymentCheck,
    /// Bill payments by credit card.
    BillPaymentCreditCard,
    /// Credit card charges.
    CreditCardCharge,
    /// Credit card credits.
    CreditCardCredit,
    /// Checks.
    Check,
    /// Purchase orders.
    PurchaseOrder,
    /// Journal entries.
    JournalEntry,
    /// Credit memos (lower what the customer owes).
    CreditMemo,
    /// Sales receipts (paid at sale; no balance).
    SalesReceipt,
    /// Vendor credits (lower what we owe the vendor).
    VendorCredit,
    /// Estimates (non-posting).
    Estimate,
    /// Sales orders (non-posting).
    SalesOrder,
}

impl TxnKind {
    const ALL: [TxnKind; 14] = [
        TxnKind::Invoice,
        TxnKind::Bill,
        TxnKind::BillPaymentCheck,
        TxnKind::BillPaymentCreditCard,
        TxnKind::CreditCardCharge,
        TxnKind::CreditCardCredit,
        TxnKind::Check,
        TxnKind::PurchaseOrder,
        TxnKind::JournalEntry,
        TxnKind::CreditMemo,
        TxnKind::SalesReceipt,
        TxnKind::VendorCredit,
        TxnKind::Estimate,
        TxnKind::SalesOrder,
    ];

    /// The qbXML object name, e.g. `BillPaymentCheck`.
    pub fn tag(self) -> &'static str {
        match self {
            TxnKind::Invoice => "Invoice",
            TxnKind::Bill => "Bill",
            TxnKind::BillPaymentCheck => "BillPaymentCheck",
            TxnKind::BillPaymentCreditCard => "BillPaymentCreditCard",
            TxnKind::CreditCardCharge => "CreditCardCharge",
            TxnKind::CreditCardCredit => "CreditCardCredit",
            TxnKind::Check => "Check",
            TxnKind::PurchaseOrder => "PurchaseOrder",
            TxnKind::JournalEntry => "JournalEntry",
            TxnKind::CreditMemo => "CreditMemo",
            TxnKind::SalesReceipt => "SalesReceipt",
            TxnKind::VendorCredit => "VendorCredit",
            TxnKind::Estimate => "Estimate",
            TxnKind::SalesOrder => "SalesOrder",
        }
    }

    pub(crate) fn from_tag(tag: &str) -> Option<TxnKind> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// Longest RefNumber QuickBooks accepts (sources-mapping.md §3.1).
    pub(crate) fn max_ref(self) -> usize {
        if matches!(self, TxnKind::Bill | TxnKind::VendorCredit) {
            20
        } else {
            11
        }
    }

    /// The header reference naming the transaction's customer, vendor or payee.
    pub(crate) fn entity_ref(self) -> Option<&'static str> {
        match self {
            TxnKind::Invoice
            | TxnKind::CreditMemo
            | TxnKind::SalesReceipt
            | TxnKind::Estimate
            | TxnKind::SalesOrder => Some("CustomerRef"),
            TxnKind::Bill | TxnKind::PurchaseOrder | TxnKind::VendorCredit => Some("VendorRef"),
            TxnKind::JournalEntry => None,
            _ => Some("PayeeEntityRef"),
        }
    }

    /// The element name (without `Add`/`Mod`/`Ret`) of the type's item lines, if it keeps
    /// lines.
    pub(crate) fn item_line(self) -> Option<&'static str> {
        match self {
            TxnKind::Invoice => Some("InvoiceLine"),
            TxnKind::PurchaseOrder => Some("PurchaseOrderLine"),
            TxnKind::CreditMemo => Some("CreditMemoLine"),
            TxnKind::SalesReceipt => Some("SalesReceiptLine"),
            TxnKind::Estimate => Some("EstimateLine"),
            TxnKind::SalesOrder => Some("SalesOrderLine"),
            TxnKind::Bill
            | TxnKind::Check
            | TxnKind::CreditCardCharge
            | TxnKind::CreditCardCredit
            | TxnKind::VendorCredit => Some("ItemLine"),
            TxnKind::BillPaymentCheck | TxnKind::BillPaymentCreditCard | TxnKind::JournalEntry => {
                None
            }
        }
    }

    /// Whether the type has expense lines besides its item lines.
    pub(crate) fn has_expense_lines(self) -> bool {
        self.item_line() == Some("ItemLine")
    }

    /// The line element name (without `Add`/`Mod`/`Ret`) of a line list.
    pub(crate) fn line_element(self, line: LineKind) -> Option<&'static str> {
        match line {
            LineKind::Expense => self.has_expense_lines().then_some("ExpenseLine"),
            LineKind::Item => self.item_line(),
        }
    }

    /// The line group element (without `Add`/`Mod`) the simulator refuses, if any.
    pub(crate) fn line_group(self) -> Option<String> {
        match self.item_line()? {
            "ItemLine" => Some("ItemGroupLine".into()),
            line => Some(format!("{line}Group")),
        }
    }

    /// Item lines name their price `Cost` on purchases, `Rate` on sales and orders.
    pub(crate) fn rate_element(self) -> &'static str {
        if self.has_expense_lines() {
            "Cost"
        } else {
            "Rate"
        }
    }

    /// Whether the transaction has an open amount: what is still due (invoices, bills) or
    /// still to use (credit memos, vendor credits).
    pub(crate) fn has_open_amount(self) -> bool {
        matches!(
            self,
            TxnKind::Invoice | TxnKind::Bill | TxnKind::CreditMemo | TxnKind::VendorCredit
        )
    }

    /// How the total moves the customer's or vendor's balance: invoices and bills raise
    /// it, credits and bill payments lower it, the rest leave it.
    pub(crate) fn balance_sign(self) -> i64 {
        match self {
            TxnKind::Invoice | TxnKind::Bill => 1,
            TxnKind::BillPaymentCheck
            | TxnKind::BillPaymentCreditCard
            | TxnKind::CreditMemo
            | TxnKind::VendorCredit => -1,
            _ => 0,
        }
    }

    /// The header reference naming the bank, card or A/P account, if any.
    pub(crate) fn account_ref(self) -> Option<&'static str> {
        match self {
            TxnKind::BillPaymentCheck => Some("BankAccountRef"),
            TxnKind::BillPaymentCreditCard => Some("CreditCardAccountRef"),
            TxnKind::CreditCardCharge | TxnKind::CreditCardCredit | TxnKind::Check => {
                Some("AccountRef")
            }
            _ => None,
        }
    }
}

/// A record of one of the lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ListRecord {
    pub(crate) kind: ListKind,
    pub(crate) list_id: String,
    pub(crate) edit_sequence: String,
    pub(crate) created: i64,
    pub(crate) modified: i64,
    pub(crate) name: String,
    pub(crate) full_name: String,
    pub(crate) parent: Option<String>,
    pub(crate) sublevel: u32,
    pub(crate) active: bool,
    pub(crate) account_type: Option<String>,
    pub(crate) fields: BTreeMap<String, String>,
    /// Open balance in cents (customers, vendors, accounts).
    pub(crate) balance: i64,
}

/// A transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TxnRecord {
    pub(crate) kind: TxnKind,
    pub(crate) txn_id: String,
    pub(crate) txn_number: u32,
    pub(crate) edit_sequence: String,
    pub(crate) created: i64,
    pub(crate) modified: i64,
    /// ListID of the customer, vendor or payee.
    pub(crate) entity: Option<String>,
    /// ListID of the bank, card or header account.
    pub(crate) account: Option<String>,
    pub(crate) txn_date: String,
    pub(crate) ref_number: Option<String>,
    pub(crate) memo: Option<String>,
    /// Total in cents, computed from the lines.
    pub(crate) total: i64,
    /// Amount still due in cents (invoices and bills).
    pub(crate) open: i64,
    /// Bills paid: (TxnID, cents).
    pub(crate) applied: Vec<(String, i64)>,
    /// The lines, expense lines before item lines as the Ret lists them (files saved before
    /// lines were kept load with none).
    #[serde(default)]
    pub(crate) lines: Vec<TxnLine>,
    /// Voided: kept with every amount zero.
    #[serde(default)]
    pub(crate) voided: bool,
}

/// Which of a transaction's line lists a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum LineKind {
    /// `ExpenseLine…`: posts to an account.
    Expense,
    /// The type's item line (`InvoiceLine…`, `PurchaseOrderLine…`, `ItemLine…`).
    Item,
}

/// One line of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TxnLine {
    pub(crate) kind: LineKind,
    pub(crate) txn_line_id: String,
    /// ListID of the item (item lines) or account (expense lines).
    pub(crate) target: Option<String>,
    pub(crate) desc: Option<String>,
    /// Quantity and rate (or cost) as sent: QuickBooks echoes them, the amount is derived.
    pub(crate) quantity: Option<String>,
    pub(crate) rate: Option<String>,
    /// Amount in cents.
    pub(crate) amount: i64,
    pub(crate) memo: Option<String>,
    /// ListID of the customer the line is billable to.
    pub(crate) customer: Option<String>,
    /// ListID of the class.
    pub(crate) class: Option<String>,
}

/// A ListID: a hex sequence number and the creation time, like QuickBooks.
pub(crate) fn list_id(seq: u32, ts: i64) -> String {
    format!("{:X}-{ts}", 0x8000_0000u32.wrapping_add(seq))
}

/// A TxnID, or a TxnLineID: like a ListID without the high bit, as in real files
/// (`4C-1415942229`). Both come from one sequence, so no line id equals a transaction id.
pub(crate) fn txn_id(seq: u32, ts: i64) -> String {
    format!("{seq:X}-{ts}")
}

/// `2023-11-14T22:13:20+00:00` for a Unix time.
pub(crate) fn iso_time(ts: i64) -> String {
    let (date, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}+00:00",
        iso_date_of_day(date),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `2023-11-14` for a Unix time.
pub(crate) fn iso_date(ts: i64) -> String {
    iso_date_of_day(ts.div_euclid(86_400))
}

/// Civil date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn iso_date_of_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parses a qbXML amount (`-12.5`, `100`, `3.456`) into cents, rounding half away from zero
/// (exact decimals, as QuickBooks: never through `f64`).
pub(crate) fn parse_cents(s: &str) -> Option<i64> {
    Amount::parse(s).ok()?.to_minor_units(2).ok()
}

/// Cents as a qbXML amount: `-0.50`.
pub(crate) fn fmt_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// Quantity × rate in cents, exact until the one rounding.
pub(crate) fn times(quantity: &str, rate: &str) -> Option<i64> {
    let (q, r) = (Amount::parse(quantity).ok()?, Amount::parse(rate).ok()?);
    q.checked_mul(r).ok()?.to_minor_units(2).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_look_like_quickbooks() {
        assert_eq!(list_id(1, 1_700_000_000), "80000001-1700000000");
        assert_eq!(txn_id(0x4C, 1_415_942_229), "4C-1415942229");
        assert_eq!(iso_time(1_700_000_000), "2023-11-14T22:13:20+00:00");
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(parse_cents("12.345"), Some(1235));
        assert_eq!(fmt_cents(-50), "-0.50");
        assert_eq!(times("2.5", "10.00"), Some(2500));
        // 1.005 is 1.00499999999999989… as an f64, which rounded to 100 cents.
        assert_eq!(parse_cents("1.005"), Some(101));
        assert_eq!(times("3", "0.335"), Some(101));
    }
}
