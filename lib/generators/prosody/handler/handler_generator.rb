# frozen_string_literal: true

require "rails/generators"

module Prosody
  module Generators
    # `rails g prosody:handler Orders`: app/handlers/orders_handler.rb and its spec.
    class HandlerGenerator < ::Rails::Generators::NamedBase
      source_root File.expand_path("templates", __dir__)
      desc "Creates a Prosody::EventHandler subclass in app/handlers and an RSpec spec for it."

      def create_handler
        template "handler.rb.tt", File.join("app/handlers", class_path, "#{file_name}_handler.rb")
      end

      def create_spec
        template "handler_spec.rb.tt",
                 File.join("spec/handlers", class_path, "#{file_name}_handler_spec.rb")
      end

      private

      def handler_class_name
        "#{class_name}Handler"
      end
    end
  end
end
