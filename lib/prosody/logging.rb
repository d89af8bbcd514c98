# frozen_string_literal: true

require "logger"

# Logging shared by the Ruby processor and the native extension.
module Prosody
  class << self
    # The logger Prosody writes to: `$stdout` at INFO unless replaced.
    # @return [Logger]
    def logger
      @logger ||= Logger.new($stdout, level: Logger::INFO, progname: "prosody")
    end

    # Replaces the logger; `nil` silences Prosody.
    # @param logger [Logger, nil]
    def logger=(logger)
      @logger = logger || Logger.new(File::NULL)
    end
  end
end
