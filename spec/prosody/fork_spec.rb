# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe "Prosody after fork" do
  it "gives the child a clear error for objects it inherited, and keeps the parent working" do
    client = Prosody::Client.new(mock: true, probe_port: nil, source_system: "fork-spec",
                                 send_timeout: 10)
    client.send_message("fork-spec", "k", { "n" => 1 })
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      begin
        client.send_message("fork-spec", "k", { "n" => 2 })
        writer.puts("sent")
      rescue Prosody::Error => e
        writer.puts(e.message)
      end
      writer.close
    end
    writer.close
    _, status = Process.wait2(pid)
    expect(reader.read).to include("created before fork")
    expect(status.exitstatus).to eq(0)
    expect { client.send_message("fork-spec", "k", { "n" => 3 }) }.not_to raise_error
  end
end
