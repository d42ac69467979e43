//! `freshline-sim`: the test doubles of outside parties as processes, for local runs and
//! benchmarks (`freshline-sim card-gateway`, `freshline-sim delivery-sim`). Apart from the
//! `freshline` executable: they are not part of the product.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "freshline-sim",
    version,
    about = "Simulated outside parties for local runs"
)]
struct Cli {
    #[command(subcommand)]
    simulator: Simulator,
}

#[derive(Debug, Subcommand)]
enum Simulator {
    /// A payment provider's test mode (`FRESHLINE_GATEWAY_*`).
    CardGateway,
    /// Warehouse staff and riders acting on assignments (`FRESHLINE_SIM_*`).
    DeliverySim,
    /// SMS and push providers' test mode (`FRESHLINE_MESSAGING_HTTP_ADDR`).
    Messaging,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().simulator {
        Simulator::CardGateway => simulators::serve::card_gateway().await,
        Simulator::DeliverySim => simulators::serve::delivery_sim().await,
        Simulator::Messaging => simulators::serve::messaging().await,
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_subcommands_are_the_simulators_names() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        assert_eq!(names, simulators::serve::NAMES);
    }
}
