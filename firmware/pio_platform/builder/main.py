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

# Upload: the ELF's own segments, never a gap-filled image — code from the flash origin up, the
# parameter block at its own address — so a flasher erases only the sectors they occupy.
protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "")
flash_origin, params_origin = board.get("npin.flash_origin", "0x0"), board.get("npin.params_origin", "0x0")
if protocol == "qemu" or (machine and not protocol):
    # "Uploading" to an emulated board starts QEMU with the ELF; its UART 0 is this terminal.
    env.Replace(UPLOADCMD="qemu-system-arm -M %s -nographic -kernel $SOURCE $UPLOAD_FLAGS" % machine)
elif protocol == "stlink":
    code_bin, params_bin = join("$BUILD_DIR", "code.bin"), join("$BUILD_DIR", "params.bin")
    env.Replace(UPLOADCMD=" && ".join([
        "$OBJCOPY -O binary -R .npin_params -R .noinit -R .bss $SOURCE %s" % code_bin,
        "$OBJCOPY -O binary -j .npin_params $SOURCE %s" % params_bin,
        "st-flash write %s %s" % (code_bin, flash_origin),
        "(test ! -s %s || st-flash write %s %s)" % (params_bin, params_bin, params_origin),
        "st-flash reset"]))
elif protocol == "openocd":
    target = board.get("npin.openocd_target", "")
    env.Replace(UPLOADCMD='openocd -f interface/stlink.cfg -f %s -c "program $SOURCE verify reset exit"' % target
                if target else "echo 'error: upload_protocol = openocd needs [platformio] openocd_target in the "
                               "board file' >&2; exit 1")
else:
    env.Replace(UPLOADCMD="echo 'error: upload_protocol = %s: the local builder flashes with stlink (st-flash), "
                          "openocd or qemu' >&2; exit 1" % protocol)
upload_source = elf
AlwaysBuild(env.Alias("upload", upload_source, env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")))
AlwaysBuild(env.Alias("size", elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))
Default([hexfile])
