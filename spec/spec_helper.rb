# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))

require_relative "support/watchdog"

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.expect_with(:rspec) { |expectations| expectations.syntax = :expect }
  config.order = :random
  Kernel.srand config.seed

  # `fit`/`fdescribe` narrow a local run; in CI they would silently skip the rest.
  if ENV["CI"]
    config.before(:example, :focus) do |example|
      raise "focused example in CI: remove the focus from #{example.location}"
    end
  else
    config.filter_run_when_matching :focus
  end

  # Slow examples (gem build + install) run in CI, with SLOW=1, or with `--tag slow`.
  config.filter_run_excluding :slow unless ENV["CI"] || ENV["SLOW"]

  # Integration examples need the real broker from `script/services start` (see spec/integration).
  config.filter_run_excluding :integration unless ENV["CI"] || ENV["PROSODY_BOOTSTRAP_SERVERS"]

  if ENV["GC_STRESS"]
    config.around(:example) do |example|
      GC.stress = true
      example.run
    ensure
      GC.stress = false
    end
  end
end
