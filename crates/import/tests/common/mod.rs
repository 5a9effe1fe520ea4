//! Helpers shared by the tests.

pub mod history;
