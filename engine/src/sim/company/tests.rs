//! Unit tests: the company file driven with qbXML message sets, as QBWC drives QuickBooks.
