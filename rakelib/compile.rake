# frozen_string_literal: true

require "rbconfig"

# Builds the native extension with plain cargo and copies it where `require "prosody"` finds
# it with `-Ilib`. Environment: CARGO, CARGO_TARGET_DIR, PROSODY_CARGO_PROFILE (release|dev),
# PROSODY_CARGO_FEATURES (Cargo features of the extension, comma-separated; `bench` adds
# Prosody::Native::Bench for bench/ruby_throughput.rb).
module ProsodyCompile
  ROOT = File.expand_path("..", __dir__)

  module_function

  def profile
    ENV.fetch("PROSODY_CARGO_PROFILE", "release")
  end

  def profile_dir
    case profile
    when "dev", "test" then "debug"
    when "bench" then "release"
    else profile
    end
  end

  # Cargo features of the extension crate, e.g. "bench"; none by default.
  def features
    ENV.fetch("PROSODY_CARGO_FEATURES", "").split(/[\s,]+/).reject(&:empty?)
  end

  def target_dir
    ENV.fetch("CARGO_TARGET_DIR", File.join(ROOT, "target"))
  end

  def artifact
    name = case RbConfig::CONFIG["host_os"]
           when /darwin/ then "libprosody.dylib"
           when /mswin|mingw|cygwin/ then "prosody.dll"
           else "libprosody.so"
           end
    File.join(target_dir, profile_dir, name)
  end

  # rb-sys finds Ruby through `RUBY` or PATH and rebuilds when `RUBY` changes, so set it only
  # when PATH would find a different Ruby from the one running rake.
  def ruby_env
    on_path = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR)
                 .map { |dir| File.join(dir, "ruby") }.find { |path| File.executable?(path) }
    return {} if on_path && File.realpath(on_path) == File.realpath(RbConfig.ruby)

    { "RUBY" => RbConfig.ruby }
  end

  def destination
    File.join(ROOT, "lib", "prosody", "prosody.#{RbConfig::CONFIG["DLEXT"]}")
  end
end

desc "Build the native extension into lib/prosody/ " \
     "(PROSODY_CARGO_PROFILE=release|dev, PROSODY_CARGO_FEATURES=bench)"
task :compile do
  env = ProsodyCompile.ruby_env.merge("CARGO_TARGET_DIR" => ProsodyCompile.target_dir)
  features = ProsodyCompile.features
  sh env, ENV.fetch("CARGO", "cargo"), "build", "-p", "prosody",
     "--profile", ProsodyCompile.profile,
     *(features.empty? ? [] : ["--features", features.join(",")]),
     "--manifest-path", File.join(ProsodyCompile::ROOT, "Cargo.toml")
  # Copy to a fresh inode: overwriting a loaded library in place can crash running processes.
  rm_f ProsodyCompile.destination
  cp ProsodyCompile.artifact, ProsodyCompile.destination
end
