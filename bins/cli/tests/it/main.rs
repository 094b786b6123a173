//! The `kagami` binary, driven as a user would: offline commands and the protocol vectors
//! here, and the end-to-end story against a real `kagami-server` in `e2e`.

// The whole crate is test code (so clippy's test allowances cover the helpers too).
#![cfg(test)]

mod e2e;
mod offline;
mod support;
