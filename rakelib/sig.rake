# frozen_string_literal: true

namespace :sig do
  desc "Write sig/prosody/configuration.rbs from the engine's option catalogue (needs compile)"
  task :configuration do
    $LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
    require "prosody"
    require_relative "support/configuration_rbs"
    File.write(ConfigurationRbs::PATH, ConfigurationRbs.render(Prosody::Native.option_specs))
    puts "wrote #{ConfigurationRbs::PATH}"
  end
end
