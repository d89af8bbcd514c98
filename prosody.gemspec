# frozen_string_literal: true

require_relative "lib/prosody/version"

# The source gem, which compiles the extension on install. `rake gem:native` derives the
# precompiled gem from this spec (rakelib/gem.rake): it keeps the files and dependencies below
# but drops the build inputs (ext/, engine/, Cargo.*), `extensions` and `rb_sys`.
Gem::Specification.new do |spec|
  spec.name = "prosody"
  spec.version = Prosody::VERSION
  spec.authors = ["Prosody contributors"]
  spec.license = "MIT"
  spec.summary = "Kafka event processing for Ruby, with a Rust core"
  spec.description = <<~TEXT.tr("\n", " ").strip
    Prosody consumes and produces Kafka events from Ruby. A Rust engine (librdkafka) handles
    polling, per-key ordering, offset commits, retries and timers; Ruby handlers run as fibers
    under Async.
  TEXT
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"

  patterns = %w[
    exe/* lib/**/*.{rb,tt} ext/**/*.{rb,rs,toml} engine/**/*.{rs,toml,md,cql} sig/**/*.rbs
    Cargo.toml Cargo.lock README.md ARCHITECTURE.md LICENSE CHANGELOG.md
  ]
  flags = File::FNM_PATHNAME | File::FNM_EXTGLOB
  candidates = Dir.chdir(__dir__) do
    # Tracked plus untracked-but-not-ignored files, so a fresh checkout and a work tree agree.
    listed = `git ls-files -z --cached --others --exclude-standard 2>#{File::NULL}`.split("\x0")
    listed = Dir.glob(patterns, flags) if listed.empty?
    listed.select { |path| File.file?(path) }
  end
  # Built libraries, engine tests and the bench helpers (compiled only with the `bench` feature).
  built_or_test_only = %r{\.(so|bundle|dylib|dll)\z|\Aengine/tests/|\Aext/prosody/src/bench\.rs\z}
  spec.files = candidates.select { |path| patterns.any? { |p| File.fnmatch?(p, path, flags) } }
                         .grep_v(built_or_test_only)
                         .sort
  spec.require_paths = ["lib"]
  spec.bindir = "exe"
  spec.executables = ["prosody"]
  spec.extensions = ["ext/prosody/extconf.rb"]

  spec.add_dependency "async", ">= 1.30", "< 3"
  # Only compiling needs rb_sys.
  spec.add_dependency "rb_sys", "~> 0.9"

  spec.add_development_dependency "rake", "~> 13.0"
  spec.add_development_dependency "rspec", "~> 3.12"
  spec.add_development_dependency "rubocop", "~> 1.39"
  # spec/prosody/sentry_spec.rb; users who want Sentry add it to their own Gemfile.
  spec.add_development_dependency "sentry-ruby", ">= 5.3", "< 7"
  # spec/rails and spec/active_support; Rails apps bring their own.
  spec.add_development_dependency "railties", ">= 6.1"
end
