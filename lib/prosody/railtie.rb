# frozen_string_literal: true

require "rails/railtie"
require_relative "config_file"

module Prosody
  # Loaded with Rails: `config/prosody.yml` (per environment, ERB, overridden by `PROSODY_*`
  # variables) becomes every client's {Prosody.defaults}, the test environment uses the mock
  # broker unless told otherwise, and Prosody logs to `Rails.logger` unless given a logger.
  # `rails g prosody:install` and `rails g prosody:handler NAME` write the starting files.
  class Railtie < ::Rails::Railtie
    initializer "prosody.defaults" do |app|
      path = app.root.join("config", "prosody.yml")
      options = ConfigFile.new(path.exist? ? path.to_s : nil, ::Rails.env.to_s).shared_options
      if ::Rails.env.test? && !options.key?(:mock) && !ENV.key?("PROSODY_MOCK")
        options[:mock] =
          true
      end
      Prosody.defaults = options
    end

    initializer "prosody.logger" do
      Prosody.logger = ::Rails.logger if ::Rails.logger && !Prosody.logger_assigned?
    end
  end
end
