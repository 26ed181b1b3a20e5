//! Measures artifact write and read throughput on a local folder:
//! `cargo run --release -p citadel-blob --example bench_store -- [SIZE_MIB] [DIR]`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size_mib: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let dir = args.next().map_or_else(std::env::temp_dir, Into::into);
    let report = citadel_blob::bench_throughput(&dir, size_mib * 1024 * 1024).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
