"""SCons build script of the local npin-arm platform (PlatformIO calls it for `pio run`)."""
import json
from os.path import isfile, join

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
cpu = board.get("build.cpu")
machine = board.get("npin.qemu_machine", "")

env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-as", CC="arm-none-eabi-gcc", CXX="arm-none-eabi-g++",
    OBJCOPY="arm-none-eabi-objcopy", RANLIB="arm-none-eabi-gcc-ranlib", SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx|\.npin_params)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)
# A float ABI and FPU named in build_flags replace the soft-float default everywhere, the link
# included: two -mfloat-abi flags there make gcc pick no multilib, and the soft-float libraries
# refuse hard-float objects.
_extra = " ".join(env.GetProjectOption("build_flags", []) or []).split()
float_flags = [f for f in _extra if f.startswith(("-mfloat-abi=", "-mfpu="))] or ["-mfloat-abi=soft"]
machine_flags = ["-mcpu=%s" % cpu, "-mthumb"] + float_flags
env.Append(
    CCFLAGS=machine_flags + ["-Os", "-g", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
    CFLAGS=["-std=c99"],
    ASFLAGS=machine_flags,
    LINKFLAGS=machine_flags + ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                               "-Wl,--no-warn-rwx-segments"],
    LIBS=["c", "gcc"],
    BUILDERS=dict(ElfToHex=Builder(
        action=env.VerboseAction("$OBJCOPY -O ihex $SOURCES $TARGET", "Building $TARGET"), suffix=".hex")),
)
ldscript = join(env.subst("$PROJECT_DIR"), "npin.ld")
if isfile(ldscript):
    env.Replace(LDSCRIPT_PATH=ldscript)

elf = env.BuildProgram()
hexfile = env.ElfToHex(join("$BUILD_DIR", "${PROGNAME}"), elf)


def _report(target, source, env):
    """Flash and RAM per section, and the slab, after every link."""
    meta_path = join(env.subst("$PROJECT_DIR"), "npin_project.json")
    if isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        print("npin: board %s, slab %d bytes (D=%d K=%d slots=%d), build id %s" % (
            meta["board"], meta["slab_bytes"], meta["dims"], meta["facets"], meta["slots"],
            meta["build_id"][:16]))


env.AddPostAction(elf, env.VerboseAction("$SIZETOOL -A -d $TARGET", "Section sizes of $TARGET"))
env.AddPostAction(elf, env.VerboseAction(_report, ""))

if machine:
    # "Uploading" to an emulated board starts QEMU with the ELF; its UART 0 is this terminal.
    env.Replace(UPLOADCMD="qemu-system-arm -M %s -nographic -kernel $SOURCE $UPLOAD_FLAGS" % machine)
else:
    env.Replace(UPLOADCMD="st-flash --reset --format ihex write $SOURCE")
upload_source = elf if machine else hexfile
AlwaysBuild(env.Alias("upload", upload_source, env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")))
AlwaysBuild(env.Alias("size", elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))
Default([hexfile])
