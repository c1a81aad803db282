#!/usr/bin/env bash
# Regenerates the recognizer test WAVs (16 kHz, mono, 16-bit), each named after what it says.
# Needs flite (English voices slt, kal16), espeak-ng (Korean, for the Vosk Korean model) and sox.
set -euo pipefail
cd "$(dirname "$0")"

# say FILE VOICE TEXT...: synthesize, then resample and pad with 0.3 s of silence at both ends,
# as an endpointed utterance from the microphone would be.
say() {
    local out=$1 voice=$2; shift 2
    local raw; raw=$(mktemp --suffix=.wav)
    if [[ $voice == espeak-* ]]; then
        espeak-ng -v "${voice#espeak-}" -s 140 -w "$raw" "$*"
    else
        flite -voice "$voice" -t "$*" -o "$raw"
    fi
    mkdir -p "$(dirname "$out")"
    sox -D "$raw" -r 16000 -c 1 -b 16 -e signed-integer "$out" pad 0.3 0.3
    rm -f "$raw"
}

# English, the main voice: answers, pain scores, commands, and speech no grammar expects.
say yes.wav slt "yes"
say no.wav slt "no"
say yes_i_have.wav slt "yes I have"
say no_i_have_not.wav slt "no I have not"
say no_i_havent.wav slt "no I haven't"
say uh_yes_i_have.wav slt "uh, yes I have"
say zero.wav slt "zero"
say four.wav slt "four"
say seven.wav slt "seven"
say ten.wav slt "ten"
say about_a_seven.wav slt "about a seven"
say its_about_a_seven.wav slt "it's about a seven"
say repeat.wav slt "repeat"
say slower.wav slt "slower"
say call_an_ambulance.wav slt "call an ambulance"
say the_weather_is_nice_today.wav slt "the weather is nice today"
say i_would_like_a_cup_of_coffee.wav slt "I would like a cup of coffee"
say my_brother_bought_a_green_bicycle.wav slt "my brother bought a green bicycle"

# A second English voice, so the tests are not tuned to one speaker.
say kal16/yes.wav kal16 "yes"
say kal16/no.wav kal16 "no"
say kal16/about_a_seven.wav kal16 "about a seven"
say kal16/call_an_ambulance.wav kal16 "call an ambulance"
say kal16/the_weather_is_nice_today.wav kal16 "the weather is nice today"

# Korean (romanized names) for the one Vosk model the package registries carry.
say ko/ne.wav espeak-ko "네"
say ko/aniyo.wav espeak-ko "아니요"
say ko/byeongwon.wav espeak-ko "병원"
say ko/hana_dul_set.wav espeak-ko "하나 둘 셋"
