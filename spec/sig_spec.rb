# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "prosody/cli"
require "prosody/rspec"
require "rbs"
require "rbs/cli"
require "set"
require "stringio"

# The signatures in sig/ must parse, pass `rbs validate`, mirror the public files of lib/, and
# declare only methods that exist. For the classes listed in `exact` they must also declare
# every public method, so the Ruby and the RBS cannot drift apart in either direction.
RSpec.describe "sig/" do
  root = File.expand_path("..", __dir__)
  sig_dir = File.join(root, "sig")
  files = Dir[File.join(sig_dir, "**", "*.rbs")]
  # lib/ files with no public surface of their own.
  # Rails generators are driven by `rails g`, not called from Ruby, so they have no signatures.
  internal = %w[lib/prosody/processor.rb lib/prosody/worker.rb lib/prosody/worker_pool.rb
                lib/prosody/stall_watch.rb lib/prosody/trace_scope.rb
                lib/prosody/cancellation.rb lib/prosody/pending.rb lib/prosody/timer_time.rb
                lib/prosody/handler_contract.rb] +
             Dir.chdir(root) { Dir["lib/generators/**/*.rb"] }
  # Modules held to their exact public surface, as [instance methods, singleton methods].
  exact = {
    "Prosody::Configuration" => ->(mod) { [mod.public_instance_methods(false), []] },
    "Prosody::Context" => ->(mod) { [mod.public_instance_methods(false), []] },
    "Prosody::EventHandler" => ->(mod) { [mod.public_instance_methods(false), []] },
    "Prosody::ErrorClassification" => lambda do |mod|
      [mod.public_instance_methods(false), mod.singleton_methods(false)]
    end,
    "Prosody::PermanentError" => ->(mod) { [mod.public_instance_methods(false), []] },
    "Prosody::TransientError" => ->(mod) { [mod.public_instance_methods(false), []] }
  }

  # Module name => { instance: Set[Symbol], singleton: Set[Symbol] }, from every file.
  declared = Hash.new { |hash, name| hash[name] = { instance: Set.new, singleton: Set.new } }
  collect = lambda do |decl, outer|
    next unless decl.is_a?(RBS::AST::Declarations::Class) ||
                decl.is_a?(RBS::AST::Declarations::Module)

    name = [outer, decl.name.to_s].compact.join("::")
    methods = declared[name]
    decl.members.each do |member|
      case member
      when RBS::AST::Members::MethodDefinition
        methods[:instance] << member.name if %i[instance singleton_instance].include?(member.kind)
        methods[:singleton] << member.name if %i[singleton singleton_instance].include?(member.kind)
      when RBS::AST::Members::AttrReader, RBS::AST::Members::AttrAccessor,
           RBS::AST::Members::AttrWriter
        scope = member.kind == :singleton ? :singleton : :instance
        methods[scope] << member.name unless member.is_a?(RBS::AST::Members::AttrWriter)
        methods[scope] << :"#{member.name}=" unless member.is_a?(RBS::AST::Members::AttrReader)
      else collect.call(member, name)
      end
    end
  end
  files.each do |file|
    RBS::Parser.parse_signature(File.read(file)).each { |decl| collect.call(decl, nil) }
  rescue RBS::ParsingError
    nil # reported by the parsing example below
  end

  it "has signatures to check" do
    expect(files).not_to be_empty
  end

  files.each do |file|
    it "parses #{file.delete_prefix("#{root}/")}" do
      expect { RBS::Parser.parse_signature(File.read(file)) }.not_to raise_error
    end
  end

  # rbs releases this check has run on. Debian 12 ships rbs 2.1 (Ruby 3.1.2) or 2.7 (3.1.7).
  known_rbs = Gem::Requirement.new(">= 2.1", "< 4")
  # The stdlib signatures sig/ refers to, with what they need themselves: rbs 2.1 does not read
  # logger's manifest, so monitor (for Logger::LogDevice's MonitorMixin) is named explicitly.
  stdlib = %w[monitor logger]

  it "runs on an rbs release it knows" do
    expect(known_rbs).to be_satisfied_by(Gem::Version.new(RBS::VERSION)),
                         "spec/sig_spec.rb knows rbs #{known_rbs}, found #{RBS::VERSION}: run " \
                         "`rbs #{stdlib.map { |lib| "-r #{lib}" }.join(" ")} -I sig validate`, " \
                         "add any stdlib library it asks for to `stdlib`, then widen `known_rbs`"
  end

  it "passes rbs validate (type names exist, arities match)" do
    output = StringIO.new
    cli = RBS::CLI.new(stdout: output, stderr: output)
    args = stdlib.flat_map { |lib| ["-r", lib] } + ["-I", sig_dir, "validate"]

    error = begin
      cli.run(args)
      nil
    rescue StandardError => e
      e
    end
    expect(error).to be_nil, lambda {
      "rbs #{args.join(" ")} failed: #{error.message}\n#{output.string.lines.last(5).join}"
    }
  end

  it "has configuration.rbs as `rake sig:configuration` writes it from the engine's options" do
    require_relative "../rakelib/support/configuration_rbs"

    expect(File.read(ConfigurationRbs::PATH))
      .to eq(ConfigurationRbs.render(Prosody::Native.option_specs)),
          "sig/prosody/configuration.rbs is stale: run `rake sig:configuration`"
  end

  it "has one signature file per public lib/ file, at the mirrored path" do
    sources = Dir.chdir(root) { Dir["lib/**/*.rb"] } - internal
    missing = sources.reject do |source|
      File.exist?(File.join(sig_dir, source.delete_prefix("lib/").sub(/\.rb\z/, ".rbs")))
    end

    expect(missing).to be_empty, "no signature file for #{missing.join(", ")}"
  end

  declared.each do |name, methods|
    it "declares only methods that #{name} has" do
      skip "#{name} is not defined yet" unless Object.const_defined?(name)

      mod = Object.const_get(name)
      missing = (methods[:instance] - [:initialize]).reject { |m| mod.public_method_defined?(m) }
                                                    .map { |m| "##{m}" }
      missing += methods[:singleton].reject { |m| mod.respond_to?(m) }.map { |m| ".#{m}" }

      if exact.key?(name) || missing.empty?
        expect(missing).to be_empty, "sig/ declares #{name}#{missing.join(", ")} but lib/ lacks it"
      else
        skip "sig/ declares #{missing.map { |method| "#{name}#{method}" }.join(", ")}, " \
             "which lib/ does not define yet"
      end
    end
  end

  exact.each do |name, surface|
    it "declares every public method of #{name}" do
      instance, singleton = surface.call(Object.const_get(name))

      expect(instance.to_set - declared[name][:instance]).to be_empty
      expect(singleton.to_set - declared[name][:singleton]).to be_empty
    end
  end
end
