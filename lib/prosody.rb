# frozen_string_literal: true

# Kafka event processing for Ruby, with a Rust core.
module Prosody
  # Base class of every error Prosody raises. The native extension raises it too, so it is
  # defined before the extension loads.
  class Error < StandardError; end
end

# A precompiled gem ships one extension per Ruby minor version under `prosody/<major.minor>/`;
# a gem built from source (or `rake compile`) puts a single one at `prosody/prosody`.
begin
  require "prosody/#{RUBY_VERSION[/\d+\.\d+/]}/prosody"
rescue LoadError
  require "prosody/prosody"
end

require_relative "prosody/version"
