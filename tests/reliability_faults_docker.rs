//! Docker's daemon stops mid-run: see `reliability_engine_lost.rs`. The only test of this
//! binary, since it stops the daemon.

#[path = "reliability_engine_lost.rs"]
mod engine_lost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs engines: run scripts/test"]
async fn docker_daemon_stopped_or_killed_mid_run() {
    engine_lost::engine_goes_away_mid_run(tug_tests::Engine::Docker, "docker").await;
}
