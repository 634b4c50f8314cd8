// Compiled only with -DOFX_SDK_INCLUDE=<openfx>/include: asserts that include/ofx_api.h agrees
// with the official OpenFX headers (string values, struct sizes, member order). It produces no
// code; building it is the check.
#include <cstddef>
#include <limits.h>
#include <stddef.h>

#include "ofx_api.h"

#define FRAMELOOM_CHECKED_NAMES(X)                                                               \
  X(kOfxImageEffectPluginApi) X(kOfxPropertySuite) X(kOfxParameterSuite) X(kOfxImageEffectSuite)  \
  X(kOfxMemorySuite) X(kOfxMultiThreadSuite) X(kOfxMessageSuite) X(kOfxActionLoad)                \
  X(kOfxActionDescribe) X(kOfxActionUnload) X(kOfxActionPurgeCaches) X(kOfxActionSyncPrivateData) \
  X(kOfxActionCreateInstance) X(kOfxActionDestroyInstance) X(kOfxActionInstanceChanged)           \
  X(kOfxActionBeginInstanceChanged) X(kOfxActionEndInstanceChanged)                               \
  X(kOfxImageEffectActionGetRegionOfDefinition) X(kOfxImageEffectActionGetRegionsOfInterest)     \
  X(kOfxImageEffectActionGetTimeDomain) X(kOfxImageEffectActionGetFramesNeeded)                   \
  X(kOfxImageEffectActionGetClipPreferences) X(kOfxImageEffectActionIsIdentity)                   \
  X(kOfxImageEffectActionRender) X(kOfxImageEffectActionBeginSequenceRender)                      \
  X(kOfxImageEffectActionEndSequenceRender) X(kOfxImageEffectActionDescribeInContext)             \
  X(kOfxPropAPIVersion) X(kOfxPropTime) X(kOfxPropIsInteractive) X(kOfxPluginPropFilePath)        \
  X(kOfxPropInstanceData) X(kOfxPropType) X(kOfxPropName) X(kOfxPropVersion)                      \
  X(kOfxPropVersionLabel) X(kOfxPropPluginDescription) X(kOfxPropLabel) X(kOfxPropShortLabel)     \
  X(kOfxPropLongLabel) X(kOfxPropChangeReason) X(kOfxChangeUserEdited) X(kOfxChangePluginEdited)  \
  X(kOfxChangeTime) X(kOfxTypeImageEffectHost) X(kOfxTypeImageEffect)                             \
  X(kOfxTypeImageEffectInstance) X(kOfxTypeClip) X(kOfxTypeImage) X(kOfxTypeParameter)            \
  X(kOfxTypeParameterInstance) X(kOfxBitDepthNone) X(kOfxBitDepthByte) X(kOfxBitDepthShort)       \
  X(kOfxBitDepthHalf) X(kOfxBitDepthFloat) X(kOfxImageComponentNone) X(kOfxImageComponentRGBA)    \
  X(kOfxImageComponentRGB) X(kOfxImageComponentAlpha) X(kOfxImageOpaque) X(kOfxImagePreMultiplied) \
  X(kOfxImageUnPreMultiplied) X(kOfxImageEffectContextFilter) X(kOfxImageEffectContextGeneral)    \
  X(kOfxImageEffectOutputClipName) X(kOfxImageEffectSimpleSourceClipName)                         \
  X(kOfxImageEffectPropSupportedContexts) X(kOfxImageEffectPropPluginHandle)                      \
  X(kOfxImageEffectHostPropIsBackground) X(kOfxImageEffectPluginPropSingleInstance)               \
  X(kOfxImageEffectPluginRenderThreadSafety) X(kOfxImageEffectRenderUnsafe)                       \
  X(kOfxImageEffectRenderInstanceSafe) X(kOfxImageEffectRenderFullySafe)                          \
  X(kOfxImageEffectPluginPropHostFrameThreading) X(kOfxImageEffectPropSupportsMultipleClipDepths) \
  X(kOfxImageEffectPropSupportsMultipleClipPARs) X(kOfxImageEffectInstancePropSequentialRender)   \
  X(kOfxImageEffectPropSequentialRenderStatus) X(kOfxImageEffectPropInteractiveRenderStatus)      \
  X(kOfxImageEffectPluginPropGrouping) X(kOfxImageEffectPropSupportsMultiResolution)              \
  X(kOfxImageEffectPropSupportsTiles) X(kOfxImageEffectPropTemporalClipAccess)                    \
  X(kOfxImageEffectPropContext) X(kOfxImageEffectPropPixelDepth) X(kOfxImageEffectPropComponents) \
  X(kOfxImageEffectPropPreMultiplication) X(kOfxImageEffectPropSupportedPixelDepths)              \
  X(kOfxImageEffectPropSupportedComponents) X(kOfxImageEffectPropFrameRate)                       \
  X(kOfxImageEffectPropFrameStep) X(kOfxImageEffectPropFrameRange) X(kOfxImageEffectPropRenderScale) \
  X(kOfxImageEffectPropProjectSize) X(kOfxImageEffectPropProjectExtent)                           \
  X(kOfxImageEffectPropProjectOffset) X(kOfxImageEffectPropProjectPixelAspectRatio)               \
  X(kOfxImageEffectInstancePropEffectDuration) X(kOfxImageEffectPropRegionOfDefinition)           \
  X(kOfxImageEffectPropRenderWindow) X(kOfxImageEffectPropFieldToRender)                          \
  X(kOfxImageEffectHostPropNativeOrigin) X(kOfxImageEffectFrameVarying)                           \
  X(kOfxImageClipPropOptional) X(kOfxImageClipPropIsMask) X(kOfxImageClipPropConnected)           \
  X(kOfxImageClipPropUnmappedPixelDepth) X(kOfxImageClipPropUnmappedComponents)                   \
  X(kOfxImageClipPropContinuousSamples) X(kOfxImageClipPropFieldOrder)                            \
  X(kOfxImagePropPixelAspectRatio) X(kOfxImagePropData) X(kOfxImagePropBounds)                    \
  X(kOfxImagePropRegionOfDefinition) X(kOfxImagePropRowBytes) X(kOfxImagePropField)               \
  X(kOfxImagePropUniqueIdentifier) X(kOfxImageFieldNone) X(kOfxParamTypeInteger)                  \
  X(kOfxParamTypeDouble) X(kOfxParamTypeBoolean) X(kOfxParamTypeChoice) X(kOfxParamTypeString)    \
  X(kOfxParamTypeGroup) X(kOfxParamTypePage) X(kOfxParamTypePushButton) X(kOfxParamPropType)      \
  X(kOfxParamPropAnimates) X(kOfxParamPropIsAnimating) X(kOfxParamPropPersistant)                 \
  X(kOfxParamPropEvaluateOnChange) X(kOfxParamPropScriptName) X(kOfxParamPropCacheInvalidation)   \
  X(kOfxParamInvalidateAll) X(kOfxParamPropHint) X(kOfxParamPropDefault) X(kOfxParamPropParent)   \
  X(kOfxParamPropChoiceOption) X(kOfxParamPropMin) X(kOfxParamPropMax) X(kOfxParamPropDisplayMin) \
  X(kOfxParamPropDisplayMax) X(kOfxParamPropIncrement) X(kOfxParamPropDigits)                     \
  X(kOfxParamPropStringMode) X(kOfxParamPropStringFilePathExists) X(kOfxParamStringIsSingleLine)  \
  X(kOfxParamStringIsMultiLine) X(kOfxParamStringIsFilePath)                                      \
  X(kOfxParamHostPropSupportsStringAnimation) X(kOfxMessageFatal) X(kOfxMessageError)             \
  X(kOfxMessageWarning) X(kOfxMessageMessage) X(kOfxMessageLog)

#define FRAMELOOM_CHECKED_STATUS(X)                                                              \
  X(kOfxStatOK) X(kOfxStatFailed) X(kOfxStatErrFatal) X(kOfxStatErrUnknown)                      \
  X(kOfxStatErrMissingHostFeature) X(kOfxStatErrUnsupported) X(kOfxStatErrExists)                \
  X(kOfxStatErrFormat) X(kOfxStatErrMemory) X(kOfxStatErrBadHandle) X(kOfxStatErrBadIndex)       \
  X(kOfxStatErrValue) X(kOfxStatReplyYes) X(kOfxStatReplyNo) X(kOfxStatReplyDefault)            \
  X(kOfxImageEffectPluginApiVersion)

// Ours, captured before the official macros of the same names exist.
#define FRAMELOOM_MINE(name) constexpr auto mine_##name = ofx::name;
FRAMELOOM_CHECKED_NAMES(FRAMELOOM_MINE)
FRAMELOOM_CHECKED_STATUS(FRAMELOOM_MINE)

namespace sdk {
#include "ofxCore.h"
#include "ofxImageEffect.h"
#include "ofxMemory.h"
#include "ofxMessage.h"
#include "ofxMultiThread.h"
#include "ofxParam.h"
#include "ofxProperty.h"
}  // namespace sdk

constexpr bool same_text(const char* a, const char* b) {
  for (; *a && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}

#define FRAMELOOM_SAME_NAME(name) static_assert(same_text(mine_##name, name), #name);
#define FRAMELOOM_SAME_STATUS(name) static_assert(mine_##name == name, #name);
FRAMELOOM_CHECKED_NAMES(FRAMELOOM_SAME_NAME)
FRAMELOOM_CHECKED_STATUS(FRAMELOOM_SAME_STATUS)

// Same size and every member at the same offset: the function order is the ABI.
#define FRAMELOOM_SAME_SIZE(type) static_assert(sizeof(::type) == sizeof(sdk::type), #type " size");
#define FRAMELOOM_SAME_AT(type, member) \
  static_assert(offsetof(::type, member) == offsetof(sdk::type, member), #type "::" #member);

FRAMELOOM_SAME_SIZE(OfxHost) FRAMELOOM_SAME_AT(OfxHost, host) FRAMELOOM_SAME_AT(OfxHost, fetchSuite)
FRAMELOOM_SAME_SIZE(OfxPlugin) FRAMELOOM_SAME_AT(OfxPlugin, pluginApi)
FRAMELOOM_SAME_AT(OfxPlugin, apiVersion) FRAMELOOM_SAME_AT(OfxPlugin, pluginIdentifier)
FRAMELOOM_SAME_AT(OfxPlugin, pluginVersionMajor) FRAMELOOM_SAME_AT(OfxPlugin, pluginVersionMinor)
FRAMELOOM_SAME_AT(OfxPlugin, setHost) FRAMELOOM_SAME_AT(OfxPlugin, mainEntry)
FRAMELOOM_SAME_SIZE(OfxRectI) FRAMELOOM_SAME_SIZE(OfxRectD) FRAMELOOM_SAME_SIZE(OfxRangeD)
FRAMELOOM_SAME_SIZE(OfxPointD) FRAMELOOM_SAME_SIZE(OfxPointI) FRAMELOOM_SAME_SIZE(OfxRangeI)

#define FRAMELOOM_PROPERTY_MEMBERS(X, T)                                                         \
  X(T, propSetPointer) X(T, propSetString) X(T, propSetDouble) X(T, propSetInt)                  \
  X(T, propSetPointerN) X(T, propSetStringN) X(T, propSetDoubleN) X(T, propSetIntN)              \
  X(T, propGetPointer) X(T, propGetString) X(T, propGetDouble) X(T, propGetInt)                  \
  X(T, propGetPointerN) X(T, propGetStringN) X(T, propGetDoubleN) X(T, propGetIntN)              \
  X(T, propReset) X(T, propGetDimension)
#define FRAMELOOM_PARAM_MEMBERS(X, T)                                                            \
  X(T, paramDefine) X(T, paramGetHandle) X(T, paramSetGetPropertySet) X(T, paramGetPropertySet)  \
  X(T, paramGetValue) X(T, paramGetValueAtTime) X(T, paramGetDerivative) X(T, paramGetIntegral)  \
  X(T, paramSetValue) X(T, paramSetValueAtTime) X(T, paramGetNumKeys) X(T, paramGetKeyTime)      \
  X(T, paramGetKeyIndex) X(T, paramDeleteKey) X(T, paramDeleteAllKeys) X(T, paramCopy)           \
  X(T, paramEditBegin) X(T, paramEditEnd)
#define FRAMELOOM_EFFECT_MEMBERS(X, T)                                                           \
  X(T, getPropertySet) X(T, getParamSet) X(T, clipDefine) X(T, clipGetHandle)                    \
  X(T, clipGetPropertySet) X(T, clipGetImage) X(T, clipReleaseImage)                             \
  X(T, clipGetRegionOfDefinition) X(T, abort) X(T, imageMemoryAlloc) X(T, imageMemoryFree)       \
  X(T, imageMemoryLock) X(T, imageMemoryUnlock)
#define FRAMELOOM_THREAD_MEMBERS(X, T)                                                           \
  X(T, multiThread) X(T, multiThreadNumCPUs) X(T, multiThreadIndex)                              \
  X(T, multiThreadIsSpawnedThread) X(T, mutexCreate) X(T, mutexDestroy) X(T, mutexLock)          \
  X(T, mutexUnLock) X(T, mutexTryLock)

FRAMELOOM_SAME_SIZE(OfxPropertySuiteV1) FRAMELOOM_PROPERTY_MEMBERS(FRAMELOOM_SAME_AT, OfxPropertySuiteV1)
FRAMELOOM_SAME_SIZE(OfxParameterSuiteV1) FRAMELOOM_PARAM_MEMBERS(FRAMELOOM_SAME_AT, OfxParameterSuiteV1)
FRAMELOOM_SAME_SIZE(OfxImageEffectSuiteV1) FRAMELOOM_EFFECT_MEMBERS(FRAMELOOM_SAME_AT, OfxImageEffectSuiteV1)
FRAMELOOM_SAME_SIZE(OfxMultiThreadSuiteV1) FRAMELOOM_THREAD_MEMBERS(FRAMELOOM_SAME_AT, OfxMultiThreadSuiteV1)
FRAMELOOM_SAME_SIZE(OfxMemorySuiteV1) FRAMELOOM_SAME_AT(OfxMemorySuiteV1, memoryAlloc)
FRAMELOOM_SAME_AT(OfxMemorySuiteV1, memoryFree)
FRAMELOOM_SAME_SIZE(OfxMessageSuiteV1) FRAMELOOM_SAME_AT(OfxMessageSuiteV1, message)
FRAMELOOM_SAME_SIZE(OfxMessageSuiteV2) FRAMELOOM_SAME_AT(OfxMessageSuiteV2, message)
FRAMELOOM_SAME_AT(OfxMessageSuiteV2, setPersistentMessage)
FRAMELOOM_SAME_AT(OfxMessageSuiteV2, clearPersistentMessage)
