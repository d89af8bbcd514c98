# frozen_string_literal: true

require "spec_helper"
require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"

# Builds the gem, installs it into a throwaway GEM_HOME (compiling the extension through
# extconf.rb, as a user's `gem install` would), then loads it from outside the repository.
#
# Registry crates are compiled into a Cargo target dir shared across runs
# (PROSODY_SMOKE_TARGET_DIR, default target/gem-smoke), so only the path crates rebuild.
RSpec.describe "gem build and install", :slow do
  root = File.expand_path("..", __dir__)

  # Runs `command` and returns its output; raises with the output if it fails.
  def run!(label, env, *command, chdir:)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    output, status = Open3.capture2e(env, *command, chdir:)
    raise "#{label} failed (#{status}):\n#{output}" unless status.success?

    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    warn format("  %<label>s: %<seconds>.1fs", label:, seconds:)
    output
  end

  def gem_command(*args)
    [Gem.ruby, "-S", "gem", *args]
  end

  # Keep the caller's Bundler and load-path settings out of the child processes.
  let(:clean_env) { ENV.keys.grep(/\A(BUNDLE_|RUBYOPT\z|RUBYLIB\z)/).to_h { |key| [key, nil] } }
  let(:tmp) { Dir.mktmpdir("prosody-gem-smoke") }
  let(:gem_home) { File.join(tmp, "home") }
  let(:gem_env) do
    target_dir = ENV.fetch("PROSODY_SMOKE_TARGET_DIR", File.join(root, "target", "gem-smoke"))
    clean_env.merge("GEM_HOME" => gem_home, "GEM_PATH" => gem_home,
                    "CARGO_TARGET_DIR" => target_dir)
  end
  let(:gem_file) { File.join(tmp, "prosody.gem") }

  after { FileUtils.rm_rf(tmp) }

  it "compiles on install and loads from outside the repository" do
    run!("gem build", clean_env, *gem_command("build", "prosody.gemspec", "--output", gem_file),
         chdir: root)
    run!("gem install", gem_env, *gem_command("install", "--local", "--ignore-dependencies",
                                              "--install-dir", gem_home, "--no-document",
                                              gem_file), chdir: tmp)

    # `base_dir` follows from the spec's path, so this finds the throwaway GEM_HOME.
    installed = Gem::Specification.load(Dir[File.join(gem_home, "specifications", "*")].first)
    ext_dir = installed.extension_dir
    expect(File).to exist(File.join(ext_dir, "prosody", "prosody.#{RbConfig::CONFIG["DLEXT"]}"))

    script = <<~RUBY
      require "prosody"
      puts Prosody::Native.new_traceparent
      puts Prosody::Native.mock_bootstrap_servers
      puts $LOADED_FEATURES.grep(%r{/prosody/prosody\\.}).first
    RUBY
    # System gems stay visible for the gem's runtime dependencies (async).
    load_env = gem_env.merge("GEM_PATH" => [gem_home, *Gem.path].join(File::PATH_SEPARATOR))
    lines = run!("load", load_env, Gem.ruby, "-I", ext_dir, "-I", "#{installed.full_gem_path}/lib",
                 "-e", script, chdir: tmp).lines(chomp: true).last(3)

    expect(lines[0]).to match(/\A00-\h{32}-\h{16}-01\z/)
    expect(lines[1]).to match(/\A[^\s,:]+:\d+(,[^\s,:]+:\d+)*\z/)
    expect(lines[2]).to start_with(ext_dir)
  end
end
