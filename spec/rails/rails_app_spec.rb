# frozen_string_literal: true

require "spec_helper"
require "fileutils"
require "open3"
require "rbconfig"
require "timeout"
require "tmpdir"

# A real Rails app (Debian's railties), written to a temp directory, driven the way a user
# would: generators, the generated spec, `rails runner` and the `prosody` command. Each step
# runs in a child process, so Rails never loads into this one.
RSpec.describe "a Rails app using Prosody", :slow do
  root = File.expand_path("../..", __dir__)

  app_files = {
    "config/application.rb" => <<~RUBY,
      require "rails"
      require "prosody"

      module Shop
        class Application < Rails::Application
          config.root = File.expand_path("..", __dir__)
          config.eager_load = false
          config.logger = Logger.new($stdout)
          config.log_level = :info
          config.secret_key_base = "spec"
          # Development reloads code only when a spec asks for it.
          config.cache_classes = ENV["SHOP_RELOAD"] != "1"
        end
      end
    RUBY
    "config/environment.rb" => <<~RUBY,
      require_relative "application"
      Rails.application.initialize!
    RUBY
    "bin/rails" => <<~RUBY,
      APP_PATH = File.expand_path("../config/application", __dir__)
      require "rails/commands"
    RUBY
    "spec/rails_helper.rb" => <<~RUBY
      ENV["RAILS_ENV"] ||= "test"
      require_relative "../config/environment"
    RUBY
  }

  before(:context) do
    skip "railties is not installed (apt-get install ruby-railties)" unless system(
      RbConfig.ruby, "-e", "require 'rails'", %i[out err] => File::NULL
    )
    @app = Dir.mktmpdir("prosody-rails-app")
    app_files.each do |path, text|
      FileUtils.mkdir_p(File.dirname(File.join(@app, path)))
      File.write(File.join(@app, path), text)
    end
  end

  after(:context) { FileUtils.remove_entry(@app) if @app }

  let(:root) { root }

  def env(extra = {})
    cleared = ENV.keys.grep(/\APROSODY_/).to_h { |name| [name, nil] }
    cleared.merge("RUBYLIB" => File.join(root, "lib"), "RAILS_ENV" => "development").merge(extra)
  end

  def run_in_app(*command, extra_env: {})
    output, status = Open3.capture2e(env(extra_env), RbConfig.ruby, *command, chdir: @app)
    expect(status).to be_success, "#{command.join(" ")} failed:\n#{output}"
    output
  end

  it "installs the config and a handler, and generates a handler with a passing spec" do
    run_in_app("bin/rails", "generate", "prosody:install")
    expect(File.read(File.join(@app,
                               "config/prosody.yml"))).to include("group_id: shop", "mock: true")
    expect(File).to exist(File.join(@app, "app/handlers/example_handler.rb"))

    run_in_app("bin/rails", "generate", "prosody:handler", "Orders")
    expect(File.read(File.join(@app, "app/handlers/orders_handler.rb")))
      .to include("class OrdersHandler < Prosody::EventHandler")

    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    output = run_in_app("-S", "rspec", "spec/handlers/orders_handler_spec.rb")
    expect(output).to include("1 example, 0 failures")
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 30
  end

  it "reads config/prosody.yml per environment, below PROSODY_* variables" do
    File.write(File.join(@app, "config/prosody.yml"), <<~YAML)
      development:
        group_id: <%= "shop-" + "dev" %>
        max_concurrency: 7
        mock: true
      test:
        group_id: shop-test
    YAML
    script = <<~RUBY
      client = Prosody::Client.new
      p [client.configuration[:group_id], client.configuration[:max_concurrency], client.configuration[:mock]]
      p Prosody.logger.equal?(Rails.logger)
      client.send_message("orders", "k", { "at" => Time.zone.now, "total" => BigDecimal("9.5") })
      puts "sent"
    RUBY
    output = run_in_app("bin/rails", "runner", script,
                        extra_env: { "PROSODY_MAX_CONCURRENCY" => "3" })
    expect(output).to include('["shop-dev", 3, true]', "true", "sent")

    output = run_in_app("bin/rails", "runner", "p Prosody.defaults[:mock]",
                        extra_env: { "RAILS_ENV" => "test" })
    expect(output).to include("true")
  end

  it "runs a handler with the prosody command, logging to Rails.logger, and stops on TERM" do
    File.write(File.join(@app, "config/prosody.yml"),
               "development:\n  group_id: shop\n  mock: true\n")
    FileUtils.mkdir_p(File.join(@app, "app/handlers"))
    File.write(File.join(@app, "app/handlers/ping_handler.rb"), <<~RUBY)
      class PingHandler < Prosody::EventHandler
        def on_message(_context, message) = Rails.logger.info("ping \#{message.payload['n']}")
        def on_timer(_context, _timer); end
      end
    RUBY
    command = [env("PROSODY_SUBSCRIBED_TOPICS" => "pings"), RbConfig.ruby, "#{root}/exe/prosody",
               "-r", "#{root}/spec/fixtures/cli/ping_sender.rb", "PingHandler"]
    run_until_term(command) do |stdin, output|
      stdin.close
      lines = []
      Timeout.timeout(60) { lines << output.gets until lines.last.to_s.include?("ping 2") }
      # Rails' own format (no pid= prefix): Prosody logs through Rails.logger.
      expect(lines.grep(/consuming pings/).first).to match(/INFO -- : PingHandler consuming pings/)
    end
  end

  it "reloads an edited handler in development between two messages, on_excise included" do
    File.write(File.join(@app, "config/prosody.yml"),
               "development:\n  group_id: shop-reload\n  mock: true\n")
    FileUtils.mkdir_p(File.join(@app, "app/handlers"))
    handler = File.join(@app, "app/handlers/echo_handler.rb")
    write_echo = lambda do |version, at|
      File.write(handler, <<~RUBY)
        class EchoHandler < Prosody::EventHandler
          def on_message(_context, message) = Rails.logger.info("#{version} echo \#{message.payload['n']}")
          def on_excise(_context, message) = Rails.logger.info("#{version} excised \#{message.key}")
          def on_timer(_context, _timer); end
        end
      RUBY
      File.utime(at, at, handler)
    end
    write_echo.call("v1", Time.now - 60)
    command = [env("PROSODY_SUBSCRIBED_TOPICS" => "echoes-#{Process.pid}", "SHOP_RELOAD" => "1"),
               RbConfig.ruby, "#{root}/exe/prosody",
               "-r", "#{root}/spec/fixtures/cli/stdin_pinger.rb", "EchoHandler"]
    run_until_term(command) do |stdin, output|
      lines = []
      read_until = lambda { |text|
        Timeout.timeout(60) do
          lines << output.gets until lines.last.to_s.include?(text)
        end
      }
      read_until.call("consuming")
      stdin.puts(1)
      stdin.flush
      read_until.call("v1 echo 1")
      # A newer mtime, not in the future (which Rails' file watcher ignores), marks the edit.
      write_echo.call("v2", Time.now)
      stdin.puts(2)
      stdin.flush
      read_until.call("echo 2")
      expect(lines.last).to include("v2 echo 2")
      stdin.puts("excise")
      stdin.flush
      read_until.call("excised ping")
      expect(lines.last).to include("v2 excised ping")
    end
  end

  # Runs the command in the app, yields its stdin and output, then stops it with TERM and
  # expects a clean exit.
  def run_until_term(command)
    Open3.popen2e(*command, chdir: @app) do |stdin, output, waiter|
      yield stdin, output
      stdin.close unless stdin.closed?
      Process.kill("TERM", waiter.pid)
      expect(Timeout.timeout(30) { waiter.value }.exitstatus).to eq(0)
    ensure
      Process.kill("KILL", waiter.pid) if waiter.alive?
    end
  end
end
