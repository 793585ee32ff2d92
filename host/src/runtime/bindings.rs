//! Host-side bindings generated from `wit/`, kept apart from the code that
//! implements them.

#![expect(missing_docs, reason = "generated code; the WIT documents it")]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "integration",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::exports::switchyard::plugin::plugin as guest;
pub use self::switchyard::plugin::{clock, config, events, http, kv, log, metrics, secrets, types};
