//! Shared test equipment.
#![allow(dead_code)]

pub mod test_app;
