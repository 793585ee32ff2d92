//! `switchyard-sim`: the simulators as a program (to come).

fn main() {}
