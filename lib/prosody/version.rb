# frozen_string_literal: true

module Prosody
  # The gem's version; the Rust crates share it through the workspace `Cargo.toml`.
  VERSION = "0.1.0"
end
