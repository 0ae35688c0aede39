//! Podman's API service stops mid-run: see `reliability_engine_lost.rs`. The only test of
//! this binary, since it stops the service.

#[path = "reliability_engine_lost.rs"]
mod engine_lost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn podman_service_stopped_or_killed_mid_run() {
    engine_lost::engine_goes_away_mid_run(tug_tests::Engine::Podman, "podman").await;
}
