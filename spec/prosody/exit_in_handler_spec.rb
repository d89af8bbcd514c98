# frozen_string_literal: true

require "spec_helper"
require "open3"
require "rbconfig"
require "timeout"

# `exit` or a signal raised inside a handler stops the process: it is neither retried nor
# swallowed. Run in a child process, since the point is that the process exits.
RSpec.describe "exit inside a handler" do
  lib = File.expand_path("../../lib", __dir__)

  def run_child(script, lib)
    Open3.popen2e(RbConfig.ruby, "-I", lib, "-e", script) do |stdin, output, wait|
      stdin.close
      Timeout.timeout(30) { [output.read, wait.value] }
    rescue Timeout::Error
      Process.kill(:KILL, wait.pid)
      raise "the child was still running after 30 s; output:\n#{output.read_nonblock(1 << 16)}"
    end
  end

  [["exit 3", 3], ["raise Interrupt", 130]].each do |statement, status|
    it "`#{statement}` ends the process after one attempt, logged at ERROR" do
      script = <<~RUBY
        require "prosody"
        $stdout.sync = true
        Prosody.logger = Logger.new($stdout)
        topic = "exit-spec-\#{Process.pid}"
        client = Prosody::Client.new(mock: true, probe_port: false, group_id: topic,
                                     subscribed_topics: topic, source_system: "spec")
        handler = Class.new do
          define_method(:on_message) do |_context, _message|
            puts "attempt"
            #{statement}
          end
          define_method(:on_timer) { |*| }
        end
        client.subscribe(handler.new)
        client.send_message(topic, "k", { "n" => 1 })
        sleep 20
        puts "still alive"
      RUBY
      output, result = run_child(script, lib)
      expect(output.scan("attempt").size).to eq(1), output
      expect(output).not_to include("still alive")
      expect(output)
        .to match(/ERROR -- : prosody: the handler for key "k" raised (SystemExit|Interrupt)/)
      expect(result.exitstatus || (128 + result.termsig.to_i)).to eq(status), output
    end
  end
end
