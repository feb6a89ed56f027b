//! Placeholder until the bulk generator lands (being written now).
pub struct SeedOptions {
    pub tenants: usize,
    pub customers: usize,
    pub largest_tenant: usize,
    pub events_per_customer: usize,
    pub seed: u64,
}
pub struct SeedReport {
    pub tenants: Vec<uuid::Uuid>,
    pub customers: u64,
    pub events: u64,
    pub elapsed: std::time::Duration,
}
pub async fn run(
    _pool: &sqlx::PgPool,
    _options: &SeedOptions,
    _progress: &indicatif::ProgressBar,
) -> anyhow::Result<SeedReport> {
    anyhow::bail!("not yet")
}
