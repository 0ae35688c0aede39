//! Incremental decoders for the Engine API's streaming bodies.
