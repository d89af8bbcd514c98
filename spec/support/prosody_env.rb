# frozen_string_literal: true

# Runs each example with no PROSODY_* variable set, restoring the caller's afterwards, so that
# what the environment holds on the machine never leaks into an example.
RSpec.shared_context "without PROSODY_* variables" do
  around do |example|
    saved = ENV.select { |name, _| name.start_with?("PROSODY_") }
    saved.each_key { |name| ENV.delete(name) }
    example.run
  ensure
    ENV.delete_if { |name, _| name.start_with?("PROSODY_") }
    ENV.update(saved)
  end
end
