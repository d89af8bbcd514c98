# frozen_string_literal: true

require "rails/generators"

module Prosody
  module Generators
    # `rails g prosody:install`: config/prosody.yml and a first handler to start from.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/prosody.yml (per environment) and app/handlers/example_handler.rb."

      def create_config
        template "prosody.yml.tt", "config/prosody.yml"
      end

      def create_example_handler
        template "example_handler.rb.tt", "app/handlers/example_handler.rb"
      end

      def explain
        say "Run it with: bundle exec prosody ExampleHandler"
      end

      private

      def app_name
        ::Rails.application.class.module_parent_name.underscore
      rescue StandardError
        "app"
      end
    end
  end
end
