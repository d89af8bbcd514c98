# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe Prosody::Native do
  describe ".new_traceparent" do
    it "returns a sampled W3C traceparent" do
      expect(described_class.new_traceparent).to match(/\A00-\h{32}-\h{16}-01\z/)
    end

    it "starts a new trace on every call" do
      first, second = Array.new(2) { described_class.new_traceparent }

      expect(first.split("-")[1]).not_to eq(second.split("-")[1])
    end
  end

  describe ".mock_bootstrap_servers" do
    it "returns the mock cluster's host:port list" do
      expect(described_class.mock_bootstrap_servers).to match(/\A[^\s,:]+:\d+(,[^\s,:]+:\d+)*\z/)
    end

    it "returns the same cluster on every call" do
      expect(described_class.mock_bootstrap_servers).to eq(described_class.mock_bootstrap_servers)
    end
  end
end

RSpec.describe Prosody::Error do
  it "is the StandardError the extension raises" do
    expect(described_class.superclass).to be(StandardError)
  end
end
