# frozen_string_literal: true

require "spec_helper"
require "open3"
require "rbconfig"
require "securerandom"
require "timeout"
require "tmpdir"
require "prosody/version"

# Runs the real `prosody` command in a child process and talks to it with signals.
RSpec.describe "the prosody command" do
  let(:root) { File.expand_path("../..", __dir__) }
  let(:fixture) { File.join(root, "spec/fixtures/cli/counting_handler.rb") }

  def command(*args, env: {})
    base = { "PROSODY_MOCK" => "true", "PROSODY_PROBE_PORT" => "none",
             "PROSODY_GROUP_ID" => "cli-#{SecureRandom.hex(4)}",
             "PROSODY_SUBSCRIBED_TOPICS" => "cli-#{SecureRandom.hex(4)}" }
    [base.merge(env), RbConfig.ruby, "-I#{root}/lib", "#{root}/exe/prosody", *args]
  end

  # Starts the command; yields its pid and a queue of its output lines.
  def running(*args, env: {})
    stdin, output, waiter = Open3.popen2e(*command(*args, env:), chdir: Dir.tmpdir)
    stdin.close
    lines = Queue.new
    reader = Thread.new { output.each_line { |line| lines << line.chomp } }
    yield waiter.pid, lines, waiter
  ensure
    Process.kill("KILL", waiter.pid) if waiter&.alive?
    reader&.join(5)
  end

  # Pops lines until one matches `pattern`; returns the lines seen, failing after `seconds`.
  def wait_for(lines, pattern, seconds: 20)
    seen = []
    Timeout.timeout(seconds) do
      seen << lines.pop until seen.last&.match?(pattern)
    end
    seen
  rescue Timeout::Error
    raise "no line matching #{pattern.inspect} within #{seconds}s; saw:\n#{seen.join("\n")}"
  end

  def handled_count(lines)
    count = 0
    count += 1 while (line = lines.pop(true)) && line.start_with?("handled")
    count
  rescue ThreadError
    count
  end

  def exit_status(waiter, seconds: 30)
    Timeout.timeout(seconds) { waiter.value }.exitstatus
  end

  it "runs a handler until TERM, then stops cleanly with status 0" do
    running("-r", fixture, "CountingHandler") do |pid, lines, waiter|
      wait_for(lines, /handled 3/)
      Process.kill("TERM", pid)

      expect(exit_status(waiter)).to eq(0)
      rest = []
      rest << lines.pop until lines.empty?
      expect(rest.join("\n")).to match(/stopping: finishing in-flight work/)
    end
  end

  it "names the process and its group on every log line" do
    running("-r", fixture, "CountingHandler",
            env: { "PROSODY_GROUP_ID" => "billing-7" }) do |pid, lines, waiter|
      consuming = wait_for(lines, /CountingHandler consuming/).last
      expect(consuming).to match(/pid=#{pid} group=billing-7 INFO: CountingHandler consuming cli-/)
      Process.kill("TERM", pid)
      expect(exit_status(waiter)).to eq(0)
    end
  end

  it "exits at once with 130 on a second INT while the first waits for a handler" do
    env = { "fixture_HANDLER_SECONDS" => "60", "PROSODY_SHUTDOWN_TIMEOUT" => "50s" }
    running("-r", fixture, "CountingHandler", env:) do |pid, lines, waiter|
      wait_for(lines, /CountingHandler consuming/)
      sleep 1 # a message is now inside its 60 s handler
      Process.kill("INT", pid)
      wait_for(lines, /stopping/)
      Process.kill("INT", pid)

      expect(exit_status(waiter, seconds: 10)).to eq(130)
    end
  end

  it "stops taking messages on TSTP and takes them again on CONT" do
    running("-r", fixture, "CountingHandler") do |pid, lines, waiter|
      wait_for(lines, /handled 2/)
      Process.kill("TSTP", pid)
      wait_for(lines, /quiet/)
      sleep 1 # what was in flight when the pause came finishes
      handled_count(lines)
      sleep 1.5
      expect(handled_count(lines)).to eq(0)

      Process.kill("CONT", pid)
      wait_for(lines, /resumed/)
      wait_for(lines, /handled/)
      Process.kill("TERM", pid)
      expect(exit_status(waiter)).to eq(0)
    end
  end

  it "logs every thread's backtrace on TTIN and keeps running" do
    running("-r", fixture, "CountingHandler") do |pid, lines, waiter|
      # A thread that has not run yet has no backtrace to log, so wait until it has handled one.
      wait_for(lines, /handled/)
      Process.kill("TTIN", pid)
      wait_for(lines, /thread prosody-processor:/)
      wait_for(lines, /handled/)
      Process.kill("TERM", pid)
      expect(exit_status(waiter)).to eq(0)
    end
  end

  it "takes options from a YAML file, per environment and per handler, below PROSODY_* variables" do
    Dir.mktmpdir do |dir|
      path = File.join(dir, "prosody.yml")
      File.write(path, <<~YAML)
        staging:
          group_id: <%= "from-" + "erb" %>
          handlers:
            CountingHandler:
              max_concurrency: 3
        production:
          group_id: wrong
      YAML
      args = ["-c", path, "-e", "staging", "-r", fixture, "CountingHandler"]
      { nil => "group=from-erb", "from-env" => "group=from-env" }.each do |variable, label|
        running(*args, env: { "PROSODY_GROUP_ID" => variable }) do |pid, lines, waiter|
          expect(wait_for(lines, /consuming/).last).to include(label)
          Process.kill("TERM", pid)
          expect(exit_status(waiter)).to eq(0)
        end
      end
    end
  end

  it "runs against a real Kafka, pausing and stopping on signals", :integration do
    env = { "PROSODY_MOCK" => "false",
            "PROSODY_BOOTSTRAP_SERVERS" => ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            "PROSODY_CASSANDRA_NODES" => ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042") }
    running("-r", fixture, "CountingHandler", env:) do |pid, lines, waiter|
      wait_for(lines, /handled 2/, seconds: 60)
      Process.kill("TSTP", pid)
      wait_for(lines, /quiet/)
      Process.kill("CONT", pid)
      wait_for(lines, /resumed/)
      wait_for(lines, /handled/)
      Process.kill("TERM", pid)
      expect(exit_status(waiter, seconds: 60)).to eq(0)
    end
  end

  describe "usage errors" do
    def run_to_end(*args, env: {})
      output, status = Open3.capture2e(*command(*args, env:), chdir: Dir.tmpdir)
      [output, status.exitstatus]
    end

    it "prints the version and the help" do
      expect(run_to_end("--version")).to eq(["prosody #{Prosody::VERSION}\n", 0])
      help, status = run_to_end("--help")
      expect(status).to eq(0)
      expect(help).to include("Usage: prosody [options] HandlerClass", "--require", "--config",
                              "--startup-timeout")
    end

    it "exits 69 with one line when no broker answers within the start-up timeout" do
      # Nothing listens on port 1, so the connection is refused until the timeout.
      env = { "PROSODY_MOCK" => "false", "PROSODY_BOOTSTRAP_SERVERS" => "127.0.0.1:1" }
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      output, status = run_to_end("--startup-timeout", "1", "-r", fixture, "CountingHandler", env:)

      expect([status, output.lines.size]).to eq([69, 1]), output
      expect(output).to start_with("prosody: no kafka broker answered at 127.0.0.1:1 within 1s: ")
        .and end_with("(see --startup-timeout)\n")
      expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 10
      output, status = run_to_end("-r", fixture, "CountingHandler",
                                  env: env.merge("PROSODY_STARTUP_TIMEOUT" => "soon"))
      expect([status, output]).to match([64, /PROSODY_STARTUP_TIMEOUT\) must be a number/])
    end

    it "exits 64 with one line for an unknown handler, option, file or value" do
      cases = {
        ["-r", fixture, "NoSuchHandler"] => "prosody: no handler class NoSuchHandler",
        ["--frobnicate"] => "prosody: invalid option: --frobnicate",
        ["-r", "/nonexistent/handlers.rb", "CountingHandler"] => "prosody: cannot load",
        ["-c", "/nonexistent.yml", "-r", fixture,
         "CountingHandler"] => "prosody: cannot read the config file",
        [] => "prosody: no handler class given"
      }
      cases.each do |args, message|
        output, status = run_to_end(*args)
        expect([status, output.lines.size]).to eq([64, 1]), "#{args}: #{output}"
        expect(output).to start_with(message)
      end
      output, status = run_to_end("-r", fixture, "CountingHandler",
                                  env: { "PROSODY_MAX_CONCURRENCY" => "zero" })
      expect(status).to eq(64)
      expect(output).to include("max_concurrency")
    end
  end
end
