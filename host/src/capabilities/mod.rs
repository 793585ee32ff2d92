//! The capabilities the host offers plugins, one module per WIT interface.
//! Each module holds that capability's state and its implementation of the
//! generated host trait; the call state in `runtime::state` ties them to one
//! plugin call for one tenant.

pub mod addresses;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod kv;
pub mod log;
pub mod metrics;
pub mod secrets;

use crate::runtime::bindings::types;
use crate::runtime::state::CallState;

/// `types` holds only type definitions; the trait has nothing to implement.
impl types::Host for CallState {}
