# frozen_string_literal: true

namespace :cargo do
  cargo = ENV.fetch("CARGO", "cargo")

  desc "Run the Rust tests of every workspace crate"
  task :test do
    sh cargo, "test", "--workspace"
  end

  desc "Check Rust formatting and run clippy with warnings denied"
  task :lint do
    sh cargo, "fmt", "--all", "--check"
    sh cargo, "clippy", "--workspace", "--all-targets", "--", "-D", "warnings"
    # The bench helpers compile only with their feature, so lint that build as well.
    sh cargo, "clippy", "-p", "prosody", "--features", "bench", "--", "-D", "warnings"
    # The engine benches are a workspace of their own (bench/engine), kept out of the gem.
    bench = ["--manifest-path", "bench/engine/Cargo.toml"]
    sh cargo, "fmt", *bench, "--check"
    sh cargo, "clippy", *bench, "--benches", "--", "-D", "warnings"
  end
end
