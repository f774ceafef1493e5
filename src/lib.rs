//! edge-tests: owns the workspace's integration tests (tests/) and benches (benches/).
//! Shared test helpers live in `tests/common/`.
