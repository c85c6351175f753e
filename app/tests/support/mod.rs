//! Helpers shared by the desk's integration tests.
#![allow(dead_code)]

pub mod faults;
