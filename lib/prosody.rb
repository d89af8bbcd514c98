# frozen_string_literal: true

# Kafka event processing for Ruby, with a Rust core.
module Prosody
end

# The native extension raises Prosody's error classes, so they exist before it loads.
require_relative "prosody/errors"

# A precompiled gem ships one extension per Ruby minor version under `prosody/<major.minor>/`;
# a gem built from source (or `rake compile`) puts a single one at `prosody/prosody`.
begin
  require "prosody/#{RUBY_VERSION[/\d+\.\d+/]}/prosody"
rescue LoadError
  require "prosody/prosody"
end

require_relative "prosody/version"
require_relative "prosody/configuration"
require_relative "prosody/error_classification"
require_relative "prosody/event_handler"
require_relative "prosody/logging"
require_relative "prosody/pending"
require_relative "prosody/timer_time"
require_relative "prosody/cancellation"
require_relative "prosody/instrumentation"
require_relative "prosody/state"
require_relative "prosody/state_handles"
require_relative "prosody/demand"
require_relative "prosody/context"
require_relative "prosody/trace_scope"
require_relative "prosody/otel_bridge"
require_relative "prosody/worker"
require_relative "prosody/worker_pool"
require_relative "prosody/stall_watch"
require_relative "prosody/processor"
require_relative "prosody/effective_configuration"
require_relative "prosody/defaults"
require_relative "prosody/as_json"
require_relative "prosody/text"
require_relative "prosody/published_state"
require_relative "prosody/outcome"
require_relative "prosody/requests"
require_relative "prosody/handler_contract"
require_relative "prosody/client"
require_relative "prosody/admin"
require_relative "prosody/railtie" if defined?(Rails::Railtie)
