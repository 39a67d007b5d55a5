//! Shared test equipment.
#![allow(dead_code)]

pub mod browser;
pub mod test_app;
